"""The model's voice on its way to the browser: a bound on streamlit-webrtc's
``PcmAudioSource`` buffer, a flush for barge-in, and a count of what has been played.

``PcmAudioSource`` keeps everything pushed into it. If the browser stops pulling (a dead tab,
a stalled leg) that would grow without limit, and after a stall the user would hear stale
speech; so anything beyond ``max_buffer_s`` is dropped from the oldest end. The source is
duck-typed (``push``/``clear``) because the core never imports Streamlit.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

from voicelab.audio import WEBRTC_RATE


class PcmSink(Protocol):
    def push(self, pcm: np.ndarray) -> None: ...
    def clear(self) -> None: ...


def buffered_samples(source: Any) -> int:
    """Samples waiting in a ``PcmAudioSource``. Reads its private FIFO: the only way to know,
    kept in this one function, which a test checks against the pinned streamlit-webrtc."""
    with source._lock:
        return int(source._fifo.samples)


class Playback:
    """Thread-safe: pushed from the bridge's loop, flushed from wherever barge-in is seen."""

    def __init__(self, max_buffer_s: float = 2.0) -> None:
        self.max_samples = int(max_buffer_s * WEBRTC_RATE)
        self._source: PcmSink | None = None
        self._lock = threading.Lock()
        self.pushed_total = 0
        self.dropped_total = 0
        self.flushes = 0

    def attach(self, source: PcmSink | None) -> None:
        with self._lock:
            self._source = source

    def buffered(self) -> int:
        with self._lock:
            return 0 if self._source is None else buffered_samples(self._source)

    def played_total(self) -> int:
        """Samples handed to the browser leg so far (pushed minus waiting minus dropped)."""
        with self._lock:
            waiting = 0 if self._source is None else buffered_samples(self._source)
            return self.pushed_total - self.dropped_total - waiting

    def push(self, samples: np.ndarray) -> None:
        with self._lock:
            source = self._source
            if source is None:
                return
            waiting = buffered_samples(source)
            if waiting + len(samples) > self.max_samples:
                # Keep latency bounded: drop what is queued, keep the newest audio.
                source.clear()
                self.dropped_total += waiting
            source.push(samples)
            self.pushed_total += len(samples)

    def flush(self) -> int:
        """Drop everything not yet played (the user started talking); returns samples
        dropped."""
        with self._lock:
            if self._source is None:
                return 0
            waiting = buffered_samples(self._source)
            self._source.clear()
            self.dropped_total += waiting
            self.flushes += 1
            return waiting
