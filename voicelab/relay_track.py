"""An outgoing audio track that forwards frames handed to it from another thread, each as
soon as it arrives.

The browser already paces the microphone at real time, so re-pacing it here would only add a
wait for the next 20 ms tick; instead ``recv`` returns the moment a frame is queued. If the
browser goes quiet (not yet connected, or stalled), 20 ms of silence goes out every
``gap_s`` so the far side's clock and VAD keep moving.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections import deque

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab.audio import WEBRTC_FRAME_SAMPLES, WEBRTC_RATE

_TIME_BASE = fractions.Fraction(1, WEBRTC_RATE)


class DelayStats:
    """The last ``size`` queue delays in seconds, for the bridge's own latency figures."""

    def __init__(self, size: int = 3000) -> None:
        self.values: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self.values.append(seconds)

    def percentile_ms(self, q: float) -> float | None:
        if not self.values:
            return None
        return float(np.percentile(np.fromiter(self.values, float), q)) * 1000.0


class FrameRelayTrack(MediaStreamTrack):
    """Carries decoded browser frames (packed s16 stereo 48 kHz, as aiortc decodes Opus)
    unchanged. ``put`` is thread-safe; frames beyond ``max_frames`` drop the oldest (a stalled
    upstream must not grow memory, nor make the model hear the past)."""

    kind = "audio"

    def __init__(
        self, loop: asyncio.AbstractEventLoop, max_frames: int = 25, gap_s: float = 0.06
    ) -> None:
        super().__init__()
        self._loop = loop
        self._frames: deque[tuple[av.AudioFrame, float]] = deque(maxlen=max_frames)
        self._arrived = asyncio.Event()
        self.gap_s = gap_s
        self._pts = 0
        self._zeros = np.zeros((1, WEBRTC_FRAME_SAMPLES * 2), dtype=np.int16)
        self.delays = DelayStats()
        self.forwarded = 0
        self.filled = 0

    def put(self, frame: av.AudioFrame) -> None:
        """From any thread: queue a decoded browser frame (packed s16, any layout)."""
        at = time.perf_counter()
        # A closed loop means the call is over and the frame has nowhere to go.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._enqueue, frame, at)

    def _enqueue(self, frame: av.AudioFrame, at: float) -> None:
        self._frames.append((frame, at))
        self._arrived.set()

    def _silence(self) -> av.AudioFrame:
        """20 ms of silence in the browser's own layout (packed s16 stereo from aiortc's
        decoder): the Opus encoder fixes its resampler on the first frame and refuses any
        other layout after it."""
        frame = av.AudioFrame.from_ndarray(self._zeros, format="s16", layout="stereo")
        frame.sample_rate = WEBRTC_RATE
        return frame

    def drop_queued(self) -> None:
        """On the track's loop: forget queued frames (audio from before the call was up)."""
        self._frames.clear()
        self.delays.values.clear()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._frames:
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), self.gap_s)
        if self.readyState != "live":
            raise MediaStreamError
        if self._frames:
            frame, at = self._frames.popleft()
            self.delays.add(time.perf_counter() - at)
            self.forwarded += 1
        else:
            frame = self._silence()
            self.filled += 1
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        self._pts += frame.samples
        return frame
