"""Replay: a stored call's microphone audio through a new call with other settings, with no
browser. The same speech under two settings is how a user finds the threshold and silence
that suit their room.

The audio goes in at real time on the new call's own loop, through the bridge's browser-side
entry (``on_browser_frame``) as the browser's frames would, and the model's voice is pulled
off the output track as the browser would pull it, so levels, latency, usage and the
recording are measured exactly as in a live call. The result is stored as a new call.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from voicelab.call.bridge import Bridge
from voicelab.call.limits import CallLimits
from voicelab.call.snapshot import CONNECTED, ERROR
from voicelab.history.writer import HistoryWriter
from voicelab.media.frames import WEBRTC_FRAME_SAMPLES, WEBRTC_RATE
from voicelab.media.resampling import resample
from voicelab.pricing import PriceTable
from voicelab.protocol.session import SessionConfig
from voicelab.upstream.transport import Target

#: How long a replay waits for the call to come up.
CONNECT_TIMEOUT_S = 20.0
#: While the line waits for the last answer, how often it looks at the call (10 = 0.2 s).
CHECK_EVERY_FRAMES = 10


class ReplayError(RuntimeError):
    """``str()`` is one sentence for the user."""


@dataclass(frozen=True)
class Replayed:
    history_id: str
    responses: int


def _frames(samples_48k: np.ndarray) -> list[av.AudioFrame]:
    """20 ms packed stereo frames, the layout a browser's decoded audio has."""
    n = len(samples_48k) // WEBRTC_FRAME_SAMPLES
    frames = []
    for i in range(n):
        chunk = samples_48k[i * WEBRTC_FRAME_SAMPLES : (i + 1) * WEBRTC_FRAME_SAMPLES]
        data = np.repeat(chunk.astype(np.int16), 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
        frame.sample_rate = WEBRTC_RATE
        frames.append(frame)
    return frames


async def _play(bridge: Bridge, frames: list[av.AudioFrame], settle_s: float) -> None:
    """On the call's loop: feed the microphone at real time and play the output out."""
    output = bridge.output_track()

    async def listen() -> None:
        while output.readyState == "live":
            await output.recv()

    listener = asyncio.ensure_future(listen())
    silence = _frames(np.zeros(WEBRTC_FRAME_SAMPLES, dtype=np.int16))[0]
    due = time.monotonic()
    try:
        for frame in frames:
            bridge.on_browser_frame(frame)
            due += 0.02
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        # Keep the line open (silence, as a quiet room) until the last answer is over.
        quiet_since = time.monotonic()
        for n in itertools.count():
            if time.monotonic() - quiet_since >= settle_s:
                return
            bridge.on_browser_frame(silence)
            due += 0.02
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if n % CHECK_EVERY_FRAMES:
                continue  # a snapshot takes the stream's lock: not 50 times a second
            snap = bridge.snapshot()
            if snap.status != CONNECTED:
                return
            if snap.activity != "listening":
                quiet_since = time.monotonic()
    finally:
        listener.cancel()


def replay(
    samples: np.ndarray,
    rate: int,
    target: Target,
    config: SessionConfig,
    writer: HistoryWriter,
    keep_audio: bool = True,
    settle_s: float = 3.0,
    prices: PriceTable | None = None,
    limits: CallLimits | None = None,
    owner: str | None = None,
    watch: Callable[[Bridge], None] = lambda bridge: None,
) -> Replayed:
    """Blocks for as long as the audio lasts plus the last answer; call it off the page's
    script thread (or accept the wait). Raises ``ReplayError``. On a hosted demo the replay
    is a call like any other: ``limits`` hold for it, ``owner`` owns it, and ``watch`` gets
    its bridge before it starts (the ledger's keeper)."""
    if rate != WEBRTC_RATE:
        samples = resample(samples.astype(np.int16), rate, WEBRTC_RATE)
    frames = _frames(samples)
    if not frames:
        raise ReplayError("The stored call has no microphone audio to replay.")
    bridge = Bridge(prices=prices)
    bridge.history, bridge.keep_audio, bridge.owner = writer, keep_audio, owner
    bridge.output_track()
    watch(bridge)
    bridge.start(target, config, limits=limits)
    try:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while (snap := bridge.snapshot()).status != CONNECTED:
            if snap.status == ERROR or time.monotonic() > deadline:
                raise ReplayError(snap.problem or "The replay's call did not come up; try again.")
            time.sleep(0.05)
        history_id = bridge.history_id
        assert history_id is not None
        played = bridge.run_on_call(lambda: _play(bridge, frames, settle_s))
        try:
            played.result(len(frames) * 0.02 + 120.0)
        finally:
            # A call ended under it (a host's limit, a lost upstream) says why in its words.
            if (snap := bridge.snapshot()).status == ERROR and snap.problem:
                raise ReplayError(snap.problem)
        return Replayed(history_id, bridge.snapshot().usage.responses)
    finally:
        bridge.stop(10.0)
        writer.flush()
