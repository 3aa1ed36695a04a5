"""The level of every frame that went one way, with when it went: the meters, the VAD
timeline and the latency stages all read it.

One thread writes (the one sending the frames: the call's loop upstream, Streamlit's loop
towards the browser) and the page copies it from another, without a lock: the audio path
never waits for the page. A copy may catch the one slot being written half-updated, so
readers leave out the newest entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voicelab.media.frames import FRAME_MS
from voicelab.media.levels import rms_dbfs

#: What a frame with nothing in it reads as.
SILENT_DBFS = -100.0
#: A frame at or above this has sound a listener would notice (room noise sits below).
AUDIBLE_DBFS = -50.0


class FrameTap(Protocol):
    def sent(self, samples: np.ndarray | None, at: float) -> None:
        """One 20 ms frame went out at ``at`` (``time.monotonic()``); None: silence."""


@dataclass(frozen=True)
class Levels:
    """A copy of a ring's recent entries, oldest first."""

    times: np.ndarray  # time.monotonic() each frame went out
    dbfs: np.ndarray

    def latest(self, over_s: float = 0.1) -> float:
        """The loudest frame of the last ``over_s``: what a meter shows."""
        if not len(self.times):
            return SILENT_DBFS
        recent = self.dbfs[self.times >= self.times[-1] - over_s]
        return float(recent.max()) if len(recent) else SILENT_DBFS


class LevelRing:
    def __init__(self, seconds: float = 60.0) -> None:
        self.size = int(seconds * 1000 / FRAME_MS)
        self._times = np.zeros(self.size)
        self._dbfs = np.full(self.size, SILENT_DBFS, dtype=np.float32)
        #: Frames recorded so far: the frame clock (frame n began n × 20 ms into the stream).
        self.count = 0

    def sent(self, samples: np.ndarray | None, at: float) -> None:
        i = self.count % self.size
        self._times[i] = at
        self._dbfs[i] = SILENT_DBFS if samples is None else rms_dbfs(samples)
        self.count += 1

    def recent(self, seconds: float, now: float | None = None) -> Levels:
        count = self.count - 1  # the newest slot may be half written
        n = min(count, self.size - 1)  # the slot after the oldest kept is the newest
        if n <= 0:
            return Levels(np.zeros(0), np.zeros(0, dtype=np.float32))
        idx = np.arange(count - n, count) % self.size
        times, dbfs = self._times[idx], self._dbfs[idx]
        since = (time.monotonic() if now is None else now) - seconds
        keep = times >= since
        return Levels(times[keep], dbfs[keep])

    def time_of_ms(self, stream_ms: float) -> float | None:
        """When the frame holding ``stream_ms`` of this stream went out; None once it has
        left the ring (or not gone yet). This is the uplink's clock: the server counts the
        audio it received in the same frames."""
        n = int(stream_ms // FRAME_MS)
        if n < 0 or n >= self.count - 1 or n < self.count - self.size:
            return None
        return float(self._times[n % self.size])

    def last_audible(self, before: float, within_s: float = 10.0) -> float | None:
        """When the last frame at or above ``AUDIBLE_DBFS`` went out, at or before
        ``before``."""
        levels = self.recent(within_s + max(0.0, time.monotonic() - before))
        hits = np.flatnonzero((levels.dbfs >= AUDIBLE_DBFS) & (levels.times <= before))
        return float(levels.times[hits[-1]]) if len(hits) else None

    def first_audible(self, after: float) -> float | None:
        """When the first frame at or above ``AUDIBLE_DBFS`` went out at or after ``after``."""
        levels = self.recent(max(0.0, time.monotonic() - after) + 0.1)
        hits = np.flatnonzero((levels.dbfs >= AUDIBLE_DBFS) & (levels.times >= after))
        return float(levels.times[hits[0]]) if len(hits) else None
