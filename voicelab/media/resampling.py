"""Resampling with av (the local server hears at 16 kHz and speaks at 48 kHz), and cutting a
stream into the fixed windows a VAD wants."""

from __future__ import annotations

import av
import numpy as np

from voicelab.media.frames import mono_frame


class Resampler:
    """Mono s16 resampling with av, for a stream of chunks of any size.

    av's resampler keeps filter state between calls, so one instance must serve one stream.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=dst_rate)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self.src_rate == self.dst_rate:
            return samples.astype(np.int16, copy=False)
        if len(samples) == 0:
            return np.zeros(0, dtype=np.int16)
        out = self._resampler.resample(mono_frame(samples, self.src_rate))
        return _join(out)

    def flush(self) -> np.ndarray:
        if self.src_rate == self.dst_rate:
            return np.zeros(0, dtype=np.int16)
        return _join(self._resampler.resample(None))


def _join(frames: list[av.AudioFrame]) -> np.ndarray:
    if not frames:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample a whole clip at once."""
    r = Resampler(src_rate, dst_rate)
    return np.concatenate([r.process(samples), r.flush()])


class Rechunker:
    """Cuts a stream of uneven chunks into fixed-size blocks (a VAD wants exact windows)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = len(data) // self.size
        blocks = [data[i * self.size : (i + 1) * self.size] for i in range(n)]
        self._pending = data[n * self.size :].copy()
        return blocks
