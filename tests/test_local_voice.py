"""The local server's voice path, driven by a real aiortc client on loopback: speech in at
real time, VAD and transcription events, spoken replies measured on the audio track."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.conftest import TEST_KEY
from tests.realtime_client import Client, user_text
from tests.speech import WEATHER, WEATHER_WORDS, phrase, silence

STORY = "please tell me a story about the ocean"


def session(**audio_input) -> dict:
    return (
        {"type": "realtime", "audio": {"input": audio_input}}
        if audio_input
        else {"type": "realtime"}
    )


@pytest.fixture
async def connect(server):
    clients: list[Client] = []

    async def make(sess: dict | None = None) -> Client:
        client = Client(server.base_url, TEST_KEY, sess or {"type": "realtime"})
        await client.connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
        client.assert_valid()


async def test_spoken_turn_is_heard_transcribed_and_answered(connect):
    client = await connect(session(transcription={"model": "whisper-1"}))
    spoken_until = client.speak(phrase(WEATHER, tail_s=1.5))

    started = await client.wait_for("input_audio_buffer.speech_started")
    stopped = await client.wait_for("input_audio_buffer.speech_stopped")
    committed = await client.wait_for("input_audio_buffer.committed")
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]

    completed = await client.wait_for("conversation.item.input_audio_transcription.completed")
    heard = set(completed["transcript"].lower().split())
    assert len(heard & WEATHER_WORDS) >= 2, completed["transcript"]
    deltas = client.of("conversation.item.input_audio_transcription.delta")
    assert "".join(d["delta"] for d in deltas) == completed["transcript"]

    done = await client.wait_for("response.done", timeout=20)
    assert done["response"]["status"] == "completed"
    transcript = done["response"]["output"][0]["content"][0]["transcript"]
    assert completed["transcript"] in transcript  # the local responder answers from what it heard

    started_out = await client.wait_for("output_audio_buffer.started")
    await client.wait_for("output_audio_buffer.stopped")
    reply_audio = client.loud_frames(since=client.arrival_of(started_out))
    assert len(reply_audio) * 0.02 > 1.0, "less than a second of audible reply"
    speech_end = spoken_until - 1.5  # the phrase's tail is 1.5 s of silence
    assert speech_end + 0.5 < reply_audio[0].at  # not before silence_duration_ms has passed

    text_deltas = client.of("response.output_audio_transcript.delta")
    assert "".join(d["delta"] for d in text_deltas) == transcript
    spread = client.arrival_of(text_deltas[-1]) - client.arrival_of(text_deltas[0])
    assert spread > 1.0, "transcript deltas were not paced with the audio"

    usage = done["response"]["usage"]
    user_ms = stopped["audio_end_ms"] - started["audio_start_ms"]
    assert usage["input_token_details"]["audio_tokens"] == pytest.approx(user_ms / 100, abs=2)
    audio_out = usage["output_token_details"]["audio_tokens"]
    assert audio_out == pytest.approx(len(reply_audio) * 20 / 50, rel=0.35)
    assert usage["output_tokens"] == audio_out + usage["output_token_details"]["text_tokens"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_without_transcription_no_user_transcript_is_sent(connect):
    client = await connect()
    client.speak(phrase(WEATHER, tail_s=1.5))
    done = await client.wait_for("response.done", timeout=20)
    assert not client.of("conversation.item.input_audio_transcription.completed")
    user_item = client.of("conversation.item.done")[0]["item"]
    assert user_item["content"][0]["transcript"] is None
    # The model still heard it.
    reply = done["response"]["output"][0]["content"][0]["transcript"]
    assert set(reply.lower().replace(".", " ").split()) & WEATHER_WORDS


async def test_text_turn_gets_a_spoken_reply(connect):
    client = await connect()
    client.send(user_text("hello there"))
    added = await client.wait_for("conversation.item.added")
    assert added["item"]["content"][0] == {"type": "input_text", "text": "hello there"}
    client.send({"type": "response.create"})
    done = await client.wait_for("response.done", timeout=20)
    assert "hello there" in done["response"]["output"][0]["content"][0]["transcript"]
    started = client.of("output_audio_buffer.started")[0]
    assert client.loud_frames(since=client.arrival_of(started))
    assert done["response"]["usage"]["input_token_details"]["text_tokens"] > 0


async def test_text_only_modality_sends_text_and_no_audio(connect):
    client = await connect({"type": "realtime", "output_modalities": ["text"]})
    client.send(user_text("hello there"))
    client.send({"type": "response.create"})
    done = await client.wait_for("response.done")
    text = (await client.wait_for("response.output_text.done"))["text"]
    assert "hello there" in text
    assert "".join(d["delta"] for d in client.of("response.output_text.delta")) == text
    await asyncio.sleep(0.5)
    assert not client.of("output_audio_buffer.started")
    assert not client.loud_frames()
    assert done["response"]["usage"]["output_token_details"]["audio_tokens"] == 0


async def test_speech_over_the_reply_interrupts_it(connect):
    client = await connect(session(transcription={"model": "whisper-1"}))
    client.send(user_text(STORY + " and about the weather on the long sunny beach"))
    client.send({"type": "response.create"})
    started = await client.wait_for("output_audio_buffer.started")
    await asyncio.sleep(1.0)
    client.speak(phrase(WEATHER, tail_s=1.0))

    barge = await client.wait_for("input_audio_buffer.speech_started")
    cleared = await client.wait_for("output_audio_buffer.cleared")
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    assert cleared["response_id"] == done["response"]["id"] == started["response_id"]
    assert client.arrival_of(cleared) - client.arrival_of(barge) < 0.1
    heard = done["response"]["output"][0]["content"][0]["transcript"]
    assert 0 < len(heard) < len("You said: " + STORY), heard

    # Audio stops at once: nothing audible arrives after the clear beyond the jitter buffer.
    late = client.loud_frames(since=client.arrival_of(cleared) + 0.15)
    new_reply = client.of("output_audio_buffer.started")[1:]
    if new_reply:
        late = [r for r in late if r.at < client.arrival_of(new_reply[0])]
    assert not late, f"{len(late)} loud frames after the clear"
    # And the interrupting turn is answered.
    await client.wait_for("response.done", where=lambda e: e["response"]["status"] == "completed")


async def test_response_cancel_stops_audio_within_a_frame(connect, server):
    client = await connect()
    client.send(user_text(STORY))
    client.send({"type": "response.create"})
    await client.wait_for("output_audio_buffer.started")
    await asyncio.sleep(0.5)
    call = next(iter(server.calls.values()))
    sent_before = call.speech_out.sent_total
    client.send({"type": "response.cancel"})
    cleared = await client.wait_for("output_audio_buffer.cleared")
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    # Server side: at most one more 20 ms frame of speech left after the cancel arrived.
    assert call.speech_out.sent_total - sent_before <= 960 * 3
    assert call.speech_out.buffered_samples == 0
    assert not client.loud_frames(since=client.arrival_of(cleared) + 0.15)
    # Nothing left to cancel now.
    client.send({"type": "response.cancel", "event_id": "evt_c2"})
    error = await client.wait_for("error")
    assert error["error"]["code"] == "response_cancel_not_active"
    assert error["error"]["event_id"] == "evt_c2"


async def test_threshold_decides_whether_quiet_speech_counts(connect):
    client = await connect(
        session(turn_detection={"type": "server_vad", "threshold": 0.9, "create_response": False})
    )
    quiet = phrase(WEATHER, dbfs=-42.0, tail_s=1.0)
    await asyncio.sleep(client.speak(quiet) - time.monotonic() + 0.5)
    assert not client.of("input_audio_buffer.speech_started"), "0.9 should ignore -42 dBFS"

    client.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.3}}},
            },
        }
    )
    updated = await client.wait_for("session.updated")
    detection = updated["session"]["audio"]["input"]["turn_detection"]
    assert detection["threshold"] == 0.3
    assert detection["create_response"] is False  # kept from before
    client.speak(quiet)
    await client.wait_for("input_audio_buffer.speech_started")
    await client.wait_for("input_audio_buffer.speech_stopped")


async def test_silence_duration_decides_where_a_turn_ends(connect):
    two_parts = np.concatenate(
        [phrase("hello world", tail_s=0.8), phrase("what is the weather like today", tail_s=2.0)]
    )
    client = await connect(
        session(
            turn_detection={
                "type": "server_vad",
                "silence_duration_ms": 400,
                "create_response": False,
            }
        )
    )
    await asyncio.sleep(client.speak(two_parts) - time.monotonic() + 0.3)
    short_stops = client.of("input_audio_buffer.speech_stopped")
    assert len(short_stops) == 2, "a 0.8 s pause ends the turn at 400 ms"

    client.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 1200}}
                },
            },
        }
    )
    await client.wait_for("session.updated")
    mark = len(client.events)
    await asyncio.sleep(client.speak(two_parts) - time.monotonic() + 0.3)
    long_stops = [
        e for e in client.events[mark:] if e["type"] == "input_audio_buffer.speech_stopped"
    ]
    assert len(long_stops) == 1, "at 1200 ms the 0.8 s pause stays inside the turn"
    # The turn closes silence_duration_ms after the speech: later with the longer setting.
    starts = [e for e in client.events[mark:] if e["type"] == "input_audio_buffer.speech_started"]
    assert long_stops[0]["audio_end_ms"] - starts[0]["audio_start_ms"] > 3000


async def test_semantic_vad_eagerness_sets_how_long_it_waits(connect):
    async def pause_after_speech(eagerness: str) -> int:
        client = await connect(
            session(
                turn_detection={
                    "type": "semantic_vad",
                    "eagerness": eagerness,
                    "create_response": False,
                }
            )
        )
        lead, speech = 0.3, phrase("good morning, how are you doing", lead_s=0.3, tail_s=0)
        client.speak(np.concatenate([speech, silence(2.5)]))
        stopped = await client.wait_for("input_audio_buffer.speech_stopped", timeout=15)
        speech_end_ms = len(speech) / 48
        assert lead * 1000 < speech_end_ms
        return stopped["audio_end_ms"] - int(speech_end_ms)

    high = await pause_after_speech("high")
    low = await pause_after_speech("low")
    assert high < low - 700, (high, low)


async def test_manual_turns_commit_clear_and_respond(connect):
    client = await connect(session(turn_detection=None, transcription={"model": "whisper-1"}))
    client.send({"type": "input_audio_buffer.commit", "event_id": "evt_empty"})
    error = await client.wait_for("error")
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"

    await asyncio.sleep(client.speak(phrase(WEATHER, tail_s=0.5)) - time.monotonic() + 0.3)
    assert not client.of("input_audio_buffer.speech_started")
    client.send({"type": "input_audio_buffer.commit"})
    committed = await client.wait_for("input_audio_buffer.committed")
    completed = await client.wait_for("conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == committed["item_id"]
    assert set(completed["transcript"].split()) & WEATHER_WORDS
    await asyncio.sleep(1.0)
    assert not client.of("response.created"), "manual mode waits for response.create"
    client.send({"type": "response.create"})
    done = await client.wait_for("response.done", timeout=20)
    assert done["response"]["status"] == "completed"

    client.send({"type": "input_audio_buffer.clear"})
    await client.wait_for("input_audio_buffer.cleared")


async def test_idle_timeout_prompts_the_user(connect):
    client = await connect(session(turn_detection={"type": "server_vad", "idle_timeout_ms": 5000}))
    client.send(user_text("hello"))
    client.send({"type": "response.create"})
    stopped = await client.wait_for("output_audio_buffer.stopped", timeout=20)
    timeout = await client.wait_for("input_audio_buffer.timeout_triggered", timeout=10)
    waited = client.arrival_of(timeout) - client.arrival_of(stopped)
    assert 4.8 < waited < 6.5
    assert timeout["audio_end_ms"] - timeout["audio_start_ms"] == 5000
    prompt = await client.wait_for(
        "response.done",
        where=lambda e: e["response"]["id"] != client.of("response.done")[0]["response"]["id"],
    )
    assert prompt["response"]["status"] == "completed"


async def test_voice_can_change_until_the_first_audio(connect):
    client = await connect()
    client.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "shimmer"}}},
        }
    )
    updated = await client.wait_for("session.updated")
    assert updated["session"]["audio"]["output"]["voice"] == "shimmer"
    client.send(user_text("hello"))
    client.send({"type": "response.create"})
    await client.wait_for("response.done")
    client.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "echo"}}},
        }
    )
    error = await client.wait_for("error")
    assert error["error"]["code"] == "cannot_update_voice"
    # Other fields still change; the refused update changed nothing.
    client.send(
        {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}
    )
    updated = await client.wait_for("session.updated", after=len(client.events) - 1)
    assert updated["session"]["audio"]["output"]["voice"] == "shimmer"
    assert updated["session"]["instructions"] == "Be brief."


async def test_truncate_keeps_what_was_heard(connect):
    client = await connect()
    client.send(user_text(STORY))
    client.send({"type": "response.create"})
    done = await client.wait_for("response.done", timeout=20)
    item = done["response"]["output"][0]
    full = item["content"][0]["transcript"]
    client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item["id"],
            "content_index": 0,
            "audio_end_ms": 1500,
        }
    )
    truncated = await client.wait_for("conversation.item.truncated")
    assert truncated["audio_end_ms"] == 1500
    client.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
    kept = (await client.wait_for("conversation.item.retrieved"))["item"]["content"][0][
        "transcript"
    ]
    assert kept and full.startswith(kept) and len(kept) < len(full)
    client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item["id"],
            "content_index": 0,
            "audio_end_ms": 99000,
        }
    )
    error = await client.wait_for("error")
    assert "already shorter" in error["error"]["message"]


async def test_max_output_tokens_cuts_the_reply(connect):
    client = await connect({"type": "realtime", "max_output_tokens": 30})
    client.send(user_text(STORY))
    client.send({"type": "response.create"})
    done = await client.wait_for("response.done", timeout=20)
    assert done["response"]["status"] == "incomplete"
    assert done["response"]["status_details"]["reason"] == "max_output_tokens"
    assert done["response"]["usage"]["output_tokens"] <= 30


async def test_temperature_is_accepted_and_changes_the_wording(connect):
    client = await connect({"type": "realtime", "temperature": 0.0, "output_modalities": ["text"]})
    replies = []
    for temperature in (0.0, 2.0):
        client.send(
            {"type": "session.update", "session": {"type": "realtime", "temperature": temperature}}
        )
        updated = await client.wait_for("session.updated", after=len(client.events))
        assert updated["session"]["temperature"] == temperature
        for i in range(4):
            mark = len(client.events)
            client.send(user_text(f"hello number {i}"))
            client.send({"type": "response.create"})
            replies.append(
                (
                    temperature,
                    (await client.wait_for("response.output_text.done", after=mark))["text"],
                )
            )
    cold = {text.split(":")[0] for t, text in replies if t == 0.0}
    hot = {text.split(":")[0] for t, text in replies if t == 2.0}
    assert cold == {"You said"}
    assert len(hot) > 1, hot
