"""Barge-in done right: what the page had not yet been sent is dropped, and the server is
told, with ``conversation.item.truncate``, how much of the answer the user actually heard.

First the bookkeeping on a real playback track with hand-fed events, then the whole path
on loopback, where "heard" is measured at the page by lining up what it received with the
answer's own synthesized audio."""

from __future__ import annotations

import asyncio
import time

import av
import numpy as np

from tests.browser_leg import until
from tests.speech import WEATHER, phrase
from tests.test_bridge import assistants, call
from voicelab.call import CONNECTED
from voicelab.media.frames import WEBRTC_FRAME_SAMPLES, WEBRTC_RATE
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.playback import Heard, PlaybackTracker
from voicelab.protocol.ids import BEST_EFFORT_PREFIX as CUT_EVENT_PREFIX

# --- the bookkeeping ----------------------------------------------------------------------


def frame() -> av.AudioFrame:
    data = np.full((1, WEBRTC_FRAME_SAMPLES * 2), 1000, dtype=np.int16)
    out = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
    out.sample_rate = WEBRTC_RATE
    return out


def answer_starts(tracker: PlaybackTracker, response: str = "r1") -> None:
    part = {"type": "audio", "transcript": ""}
    tracker.observe(
        "received",
        {"type": "response.content_part.added", "response_id": response,
         "item_id": f"item_{response}", "output_index": 0, "content_index": 0, "part": part},
    )  # fmt: skip
    tracker.observe("received", {"type": "output_audio_buffer.started", "response_id": response})


async def send(relay: FrameRelayTrack, frames: int) -> None:
    for _ in range(frames):
        await relay.recv()


async def test_the_cut_counts_only_the_answers_frames_that_went_out():
    relay = FrameRelayTrack(max_frames=100)
    tracker = PlaybackTracker(relay)
    for _ in range(3):
        relay.put(frame())  # the end of something earlier, still queued
    answer_starts(tracker)
    for _ in range(50):
        relay.put(frame())  # 1 s of the answer arrives at once
    await send(relay, 13)  # the 3 earlier frames and 10 of the answer's go out
    assert tracker.cut() == Heard(item_id="item_r1", content_index=0, audio_end_ms=200)
    assert relay.queued_frames == 0  # the unsent 800 ms were dropped, not played
    assert tracker.cut() is None  # one cut per answer


async def test_frames_lost_to_the_bound_are_not_counted_as_heard():
    relay = FrameRelayTrack(max_frames=10)
    tracker = PlaybackTracker(relay)
    answer_starts(tracker)
    for _ in range(30):
        relay.put(frame())  # a stalled browser: 20 frames fall off the bound unsent
    await send(relay, 4)
    assert tracker.cut().audio_end_ms == 80


async def test_no_cut_for_an_answer_already_heard_in_full_or_never_started():
    relay = FrameRelayTrack(max_frames=100)
    tracker = PlaybackTracker(relay)
    assert tracker.cut() is None  # nothing has played
    answer_starts(tracker)
    for _ in range(5):
        relay.put(frame())
    await send(relay, 5)
    tracker.observe("received", {"type": "output_audio_buffer.stopped", "response_id": "r1"})
    assert tracker.cut() is None  # all sent, all heard: nothing to take back
    # still sending, nothing queued: the answer is being heard right now
    answer_starts(tracker, "r2")
    relay.put(frame())
    await send(relay, 1)
    assert tracker.cut().item_id == "item_r2"


async def test_a_late_cleared_for_an_answer_already_cut_leaves_the_next_one_playing():
    relay = FrameRelayTrack(max_frames=100)
    tracker = PlaybackTracker(relay)
    answer_starts(tracker, "r1")
    tracker.cut()  # barge-in or Interrupt
    assert not tracker.clears_playing("r1")  # the server confirming that cut
    answer_starts(tracker, "r2")
    relay.put(frame())
    await send(relay, 1)
    late = {"type": "output_audio_buffer.cleared", "response_id": "r1"}
    assert not tracker.clears_playing("r1")  # … even after the next answer has begun
    tracker.observe("received", late)
    assert tracker.clears_playing("r2") and tracker.clears_playing(None)
    # and it did not make the bookkeeping think r2 had stopped: a cut still truncates r2
    assert tracker.cut().item_id == "item_r2"


# --- the whole path on loopback -------------------------------------------------------------

LONG = (
    "please read all of this back to me because I want to hear how the voice sounds when "
    "it keeps on talking for a long time without any pause in between the words at all"
)
BLOCK = 240  # 5 ms at 48 kHz: the resolution of the page-side measurement


def envelope_db(samples: np.ndarray) -> np.ndarray:
    """RMS per 5 ms block, in dBFS."""
    n = len(samples) // BLOCK
    blocks = samples[: n * BLOCK].astype(np.float64).reshape(n, BLOCK)
    rms = np.sqrt(np.mean(blocks**2, axis=1)) / 32768.0
    return 20 * np.log10(np.maximum(rms, 1e-6))


def heard_span_ms(received: np.ndarray, answer: np.ndarray, loud_db: float = -55.0):
    """Where in the answer the page stopped hearing it, as the range of answer positions
    (ms) it can be in: after the last answer sound that reached the page, and before the
    next answer sound that did not (a cut inside a pause is only known up to the pause)."""
    page, speech = envelope_db(received), envelope_db(answer)
    first_second = speech[:200]
    # line the page up with the answer on the answer's first second (surely heard)
    lags = range(len(page) - len(first_second))
    costs = [np.mean(np.abs(page[lag : lag + 200] - first_second)) for lag in lags]
    lag = int(np.argmin(costs))
    played = page[lag : lag + len(speech)]
    loud_page = np.flatnonzero(played > loud_db)
    last = int(loud_page[-1])
    later_speech = np.flatnonzero(speech[last + 1 :] > loud_db)
    next_loud = last + 1 + int(later_speech[0]) if len(later_speech) else len(speech)
    return (last + 1) * 5, next_loud * 5, float(costs[lag])


async def test_barge_in_truncates_the_answer_to_what_the_page_heard(server):
    async with call(server.base_url) as (bridge, leg):
        first = await until(bridge, lambda s: s.status == CONNECTED)
        asked = time.monotonic()
        await asyncio.to_thread(bridge.send_text, LONG)
        await until(
            bridge,
            lambda s: len(leg.loud_frames(since=asked)) >= 60,
            what="1.2 s of the answer heard",
        )
        leg.speak(phrase(WEATHER, lead_s=0.0, tail_s=1.0))  # the user talks over it

        await until(
            bridge,
            lambda s: bridge.events("conversation.item.truncated"),
            what="the server confirming the truncate",
        )
        sent = bridge.events("conversation.item.truncate")[-1]
        confirmed = bridge.events("conversation.item.truncated")[-1].event
        assert sent.direction == "sent" and sent.event["item_id"] == confirmed["item_id"]
        assert sent.event["event_id"].startswith(CUT_EVENT_PREFIX)  # its refusal is no news
        audio_end_ms = sent.event["audio_end_ms"]
        assert confirmed["audio_end_ms"] == audio_end_ms

        # What the page heard: everything up to the cut has arrived 0.5 s after it (the
        # page's own jitter buffer holds 80 ms), and nothing of the next answer yet.
        await asyncio.sleep(0.6)
        received = np.concatenate([s for at, s in leg.audio if asked <= at <= sent.at + 0.5])
        answer = server.calls[first.call_id].conversation.speech(sent.event["item_id"])
        assert answer is not None
        low, high, fit = heard_span_ms(received, answer.samples)
        print(f"truncated at {audio_end_ms} ms; the page heard {low}-{high} ms of the answer")
        assert fit < 6.0, f"the page's audio does not line up with the answer ({fit:.1f} dB)"
        assert low >= 1000 and high < answer.duration_ms - 1000, (low, high)
        assert low - 40 <= audio_end_ms <= high + 40, (
            f"truncated at {audio_end_ms} ms, the page heard {low}-{high} ms"
        )

        # The model's memory of its answer ends where the user's hearing did.
        item = server.calls[first.call_id].conversation.get(sent.event["item_id"])
        remembered = item["content"][0]["transcript"]
        assert remembered == answer.heard_until(audio_end_ms)
        assert len(remembered) < len(answer.text)
        snap = await until(bridge, lambda s: any(t.status == "interrupted" for t in assistants(s)))
        assert snap.status == CONNECTED and not snap.errors


async def test_interrupt_truncates_too_and_speech_does_not_cut_when_it_should_not(server):
    async with call(server.base_url, interrupt_response=False) as (bridge, leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        asked = time.monotonic()
        await asyncio.to_thread(bridge.send_text, LONG)
        await until(bridge, lambda s: len(leg.loud_frames(since=asked)) >= 25)
        leg.speak(phrase(WEATHER, lead_s=0.0, tail_s=0.5))
        await until(bridge, lambda s: bridge.events("input_audio_buffer.speech_started"))
        await asyncio.sleep(1.0)
        # interrupt_response is off: the model talks on, and nothing was taken back
        assert not bridge.events("conversation.item.truncate")
        assert leg.loud_frames(since=time.monotonic() - 0.5)

        pressed = time.monotonic()
        await asyncio.to_thread(bridge.interrupt)
        sent = [e.type for e in bridge.events() if e.direction == "sent" and e.at >= pressed]
        assert sent == [
            "response.cancel",
            "output_audio_buffer.clear",
            "conversation.item.truncate",
        ]
        await until(bridge, lambda s: bridge.events("conversation.item.truncated"))
        cut = bridge.events("conversation.item.truncate")[-1].event["audio_end_ms"]
        assert 1000 <= cut <= (pressed - asked) * 1000, cut
