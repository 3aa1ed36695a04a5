"""The local server's parts on their own: pure logic with fakes, speech parts for real."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.speech import phrase, pitch_hz
from voicelab.local.conversation import Conversation, server_item
from voicelab.local.errors import RealtimeError
from voicelab.local.input_pipeline import InputPipeline, Stopped
from voicelab.local.responder import LocalResponder, ReplyRequest, Turn
from voicelab.local.session import Session
from voicelab.local.synthesizer import VOICE_VARIANTS, synthesizer
from voicelab.local.turn_detection import SpeechStarted, SpeechStopped, TurnDetector
from voicelab.local.vad import loudness
from voicelab.media.frames import WEBRTC_RATE, frame_to_mono, mono_frame
from voicelab.media.levels import rms_dbfs
from voicelab.media.pcm_track import BufferFull, PcmTrack
from voicelab.media.resampling import Rechunker, resample

# ---- turn detection (pure) ------------------------------------------------------------------


def feed(detector: TurnDetector, scores: list[float], partial: str = "done") -> list:
    events = []
    for i, score in enumerate(scores):
        event = detector.window(i * 32.0, 32.0, score, lambda: partial)
        if event:
            events.append((i, event))
    return events


def test_server_vad_starts_with_padding_and_stops_after_the_silence():
    config = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 100,
        "silence_duration_ms": 200,
    }
    events = feed(TurnDetector(config), [0.0] * 10 + [0.9] * 20 + [0.1] * 10)
    (i_start, start), (i_stop, stop) = events
    assert start == SpeechStarted(10 * 32 - 100)
    assert i_start == 11  # two speech windows needed
    assert isinstance(stop, SpeechStopped)
    assert stop.audio_end_ms == (i_stop + 1) * 32
    assert (i_stop - 29) * 32 >= 200


def test_threshold_and_single_clicks():
    config = {
        "type": "server_vad",
        "threshold": 0.8,
        "prefix_padding_ms": 0,
        "silence_duration_ms": 200,
    }
    assert feed(TurnDetector(config), [0.7] * 50) == []
    assert feed(TurnDetector(config), [0.0, 0.9, 0.0, 0.9, 0.0] * 10) == []


def test_semantic_vad_waits_longer_for_unfinished_words():
    config = {"type": "semantic_vad", "eagerness": "high"}
    scores = [0.9] * 10 + [0.0] * 100
    finished = feed(TurnDetector(config), scores, "how are you doing")
    unfinished = feed(TurnDetector(config), scores, "i would like to go and")
    finished_pause = finished[1][1].audio_end_ms - 320
    unfinished_pause = unfinished[1][1].audio_end_ms - 320
    assert 300 <= finished_pause < 400
    assert 2000 <= unfinished_pause < 2100


def test_manual_turn_detection_never_fires():
    assert feed(TurnDetector(None), [1.0] * 100) == []


def test_loudness_gate_shape():
    assert loudness(-80) == 0.0
    assert loudness(-20) == 1.0
    assert loudness(-47.5) == pytest.approx(0.5)


# ---- session validation (pure) --------------------------------------------------------------


def test_session_merges_updates_and_refuses_without_changing_anything():
    session = Session(60)
    session.apply(
        {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}},
        }
    )
    detection = session.turn_detection
    assert detection["threshold"] == 0.7 and detection["silence_duration_ms"] == 500
    before = session.snapshot()
    with pytest.raises(RealtimeError) as caught:
        session.apply({"type": "realtime", "instructions": "hi", "audio": {"output": {"speed": 9}}})
    assert caught.value.param == "session.audio.output.speed"
    assert session.snapshot() == before
    session.apply(
        {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    )
    assert session.turn_detection == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    session.apply({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert session.turn_detection is None


def test_model_and_voice_locks():
    session = Session(60)
    session.apply({"type": "realtime", "model": "gpt-realtime-2"}, initial=True)
    with pytest.raises(RealtimeError, match="model"):
        session.apply({"type": "realtime", "model": "gpt-realtime"})
    with pytest.raises(RealtimeError) as caught:
        session.apply(
            {"type": "realtime", "audio": {"output": {"voice": "echo"}}}, audio_output_started=True
        )
    assert caught.value.code == "cannot_update_voice"
    session.apply(
        {"type": "realtime", "audio": {"output": {"voice": "alloy"}}}, audio_output_started=True
    )


# ---- conversation (pure) --------------------------------------------------------------------


def test_conversation_order_insertion_and_bounds():
    conversation = Conversation()
    a, b, c = (server_item("user", [{"type": "input_text", "text": t}]) for t in "abc")
    assert conversation.add(a) is None
    assert conversation.add(b) == a["id"]
    assert conversation.add(c, a["id"]) == a["id"]
    assert [t.text for t in conversation.turns()] == ["a", "c", "b"]
    with pytest.raises(RealtimeError):
        conversation.add(server_item("user", []), "item_missing")
    for i in range(600):
        conversation.add(server_item("user", [{"type": "input_text", "text": str(i)}]))
    assert len(conversation.turns()) == 500


# ---- responder (pure) -----------------------------------------------------------------------


async def test_local_responder_answers_from_what_it_heard():
    responder = LocalResponder()

    async def reply(text: str, temperature: float = 0.0, instructions: str = "") -> str:
        return await responder.reply(ReplyRequest((Turn("user", text),), instructions, temperature))

    assert await reply("what is the weather like") == (
        "You said: what is the weather like. I can't look outside, but I hope the weather is kind to you."
    )
    assert (
        await reply("what is the weather like", instructions="Be brief.")
        == "You said: what is the weather like."
    )
    assert "didn't catch" in await reply("")
    assert await reply("hello", 1.0) == await reply("hello", 1.0)  # seeded by the conversation
    hot = {await reply(f"hello {i}", 2.0) for i in range(12)}
    assert len({h.split(":")[0] for h in hot}) > 1


# ---- speech parts (real) --------------------------------------------------------------------


def test_voices_are_distinct_and_speed_changes_the_rate():
    synth = synthesizer()
    text = "Hello there, this is a test of the voice."
    male, female = synth.synthesize(text, "alloy"), synth.synthesize(text, "shimmer")
    assert pitch_hz(female.samples) > pitch_hz(male.samples) * 1.3
    assert len(set(VOICE_VARIANTS.values())) == len(VOICE_VARIANTS)
    fast, slow = synth.synthesize(text, "alloy", 1.5), synth.synthesize(text, "alloy", 0.5)
    assert fast.duration_ms < male.duration_ms * 0.8 < slow.duration_ms * 0.8
    assert [text[w.start : w.end] for w in male.words][:2] == ["Hello", "there"]
    assert male.heard_until(1) == "Hello" and male.heard_until(10**6) == text.rstrip(".")


def test_input_pipeline_finds_the_turn_and_the_words():
    pipeline = InputPipeline(
        {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
            "create_response": True,
        }
    )
    clip = phrase("hello world, what is the weather like today", tail_s=1.0, lead_s=1.0)
    events = []
    for start in range(0, len(clip), 960):
        events += pipeline.process(clip[start : start + 960])
    assert [type(e) for e in events] == [SpeechStarted, Stopped]
    assert 600 <= events[0].audio_start_ms <= 800  # 1.0 s lead minus 0.3 s padding
    assert {"weather", "hello"} & set(events[1].utterance.transcript.split())


def test_audio_helpers():
    tone = (np.sin(np.arange(4800) / 10) * 10000).astype(np.int16)
    assert rms_dbfs(tone) == pytest.approx(20 * np.log10(10000 / 32768 / np.sqrt(2)), abs=0.2)
    assert rms_dbfs(np.zeros(10, np.int16)) == -100.0
    assert len(resample(tone, 48000, 16000)) == pytest.approx(1600, abs=40)
    chunks = Rechunker(512).push(np.zeros(1100, np.int16))
    assert [len(c) for c in chunks] == [512, 512]
    assert np.array_equal(frame_to_mono(mono_frame(tone, 48000)), tone)


async def test_pcm_track_paces_clears_and_bounds():
    track = PcmTrack(max_buffer_s=1.0)
    start = track.push(np.full(960 * 5, 1000, np.int16))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    frames = [await track.recv() for _ in range(4)]
    assert loop.time() - t0 >= 0.055  # 3 waits of 20 ms
    assert [f.pts for f in frames] == [0, 960, 1920, 2880]
    assert await track.wait_sent(start + 960 * 4)
    waiter = asyncio.ensure_future(track.wait_sent(start + 960 * 5))
    await asyncio.sleep(0)
    assert track.clear() == 960
    assert await waiter is False
    assert rms_dbfs(frame_to_mono(await track.recv())) == -100.0
    with pytest.raises(BufferFull):
        track.push(np.zeros(WEBRTC_RATE * 2, np.int16))
    mic = PcmTrack(max_buffer_s=1.0, drop_oldest=True)
    mic.push(np.zeros(WEBRTC_RATE * 2, np.int16))
    assert mic.buffered_samples == WEBRTC_RATE
    track.stop()
    mic.stop()


async def test_pcm_track_jumps_over_a_stall_instead_of_bursting():
    """After its loop stalled, the track goes on at real time from now (the pts jumps), as a
    live source would: a burst of the frames it missed arrives as audio every jitter buffer
    downstream must hold (0.23 s more in Chromium after the synthesis of a reply)."""
    track = PcmTrack(max_buffer_s=2.0)
    track.push(np.full(WEBRTC_RATE // 2, 1000, np.int16))
    loop = asyncio.get_running_loop()
    first = await track.recv()
    time.sleep(0.3)  # the stall under test: the whole loop blocked
    t0 = loop.time()
    frames = [await track.recv() for _ in range(5)]
    assert loop.time() - t0 >= 0.06  # paced: four 20 ms waits, not a burst
    assert frames[0].pts - first.pts >= 0.25 * WEBRTC_RATE, frames[0].pts
    assert [f.pts - frames[0].pts for f in frames] == [0, 960, 1920, 2880, 3840]
    assert track.sent_total == 6 * 960  # nothing pushed was skipped, only stream time
    track.stop()


class CountingRecognizer:
    def __init__(self) -> None:
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1


def test_recognizer_pool_builds_once_and_reuses_reset_decoders():
    from voicelab.local.recognizer import RecognizerPool

    pool = RecognizerPool(CountingRecognizer, max_idle=1)
    pool.warm()
    pool.warm()  # one is already idle: nothing built
    assert pool.built == 1
    first = pool.take()
    second = pool.take()  # none idle: built on demand
    assert pool.built == 2 and first is not second
    pool.give_back(first)
    pool.give_back(second)  # beyond max_idle: let go
    assert first.resets == 2  # once when warmed, once when given back
    assert pool.take() is first and pool.built == 2


async def test_a_finished_call_returns_its_decoder_to_the_pool(server):
    from tests.realtime_client import Client
    from voicelab.local.recognizer import recognizers

    client = Client(server.base_url, "test-key-not-a-secret", {"type": "realtime"})
    await client.connect()
    built = recognizers.built
    await client.close()
    for _ in range(50):
        if not server.calls:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    again = Client(server.base_url, "test-key-not-a-secret", {"type": "realtime"})
    await again.connect()
    await again.close()
    assert recognizers.built == built, "the second call built a new decoder instead of reusing"


def test_decoders_share_one_language_model_and_a_dictionary_cut_to_its_words():
    from pathlib import Path

    from pocketsphinx import Config

    from voicelab.local.recognizer import PocketsphinxRecognizer, shared_models

    lm, path = shared_models.get()
    assert shared_models.get() == (lm, path)  # loaded once per process
    cut = Path(path).read_text(encoding="utf-8").splitlines()
    full = Path(Config()["dict"]).read_text(encoding="utf-8").splitlines()
    assert 50_000 < len(cut) < 0.7 * len(full), (len(cut), len(full))
    words = {line.split(" ", 1)[0].split("(")[0] for line in cut}  # "word(2)": a variant
    assert {"weather", "london", "today", "what", "like"} <= words
    assert all(lm.prob([w]) != lm.prob(["voicelab-not-a-word"]) for w in list(words)[:500])
    one, two = PocketsphinxRecognizer(), PocketsphinxRecognizer()
    for recognizer in (one, two):  # each decodes with the shared model on its own
        recognizer.start()
        recognizer.feed(np.zeros(16_000, dtype=np.int16))
        assert recognizer.finish() == ""
