"""Audio frame conversions, resampling and levels shared by the bridge and the local server.

Everything here works on packed signed 16-bit PCM held in numpy arrays, because that is what
aiortc's Opus decoder produces and what its encoder accepts.
"""

from __future__ import annotations

import fractions

import av
import numpy as np

#: WebRTC's Opus clock, and the rate every track in this project sends and receives at.
WEBRTC_RATE = 48_000
#: One RTP audio packet holds 20 ms.
FRAME_MS = 20
WEBRTC_FRAME_SAMPLES = WEBRTC_RATE * FRAME_MS // 1000
#: A frame due longer ago than this means the sending loop stalled, not jitter.
STALL_S = 0.1


def stall_jump(late_s: float) -> int:
    """Samples (whole frames) to move an outgoing track's pts past a stall of its loop.

    A live source's clock runs on through a stall, so the far side hears a gap. Bursting
    out the missed frames instead, or running the timestamps on, makes the frames after it
    look late, and every jitter buffer downstream holds that delay for seconds after: the
    local server's synthesis of a reply left Chromium holding 0.23 s more.
    """
    behind = int(late_s * WEBRTC_RATE)
    return behind - behind % WEBRTC_FRAME_SAMPLES


_SILENCE_DBFS = -100.0


def frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """Packed s16 mono samples of a decoded frame (aiortc hands out packed stereo)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        data = data[0] if channels == 1 else data.mean(axis=0).astype(np.int16)
        return np.ascontiguousarray(data.reshape(-1), dtype=np.int16)
    data = data.reshape(-1)
    if channels == 1:
        return data.astype(np.int16, copy=False)
    return data.reshape(-1, channels).mean(axis=1).astype(np.int16)


def mono_frame(samples: np.ndarray, sample_rate: int, pts: int | None = None) -> av.AudioFrame:
    """A packed s16 mono frame, the only kind aiortc's encoder takes without crashing."""
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = sample_rate
    frame.time_base = fractions.Fraction(1, sample_rate)
    if pts is not None:
        frame.pts = pts
    return frame


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


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale; -100 for digital silence."""
    if len(samples) == 0:
        return _SILENCE_DBFS
    x = samples.astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.mean(x * x)))
    if rms <= 1e-5:
        return _SILENCE_DBFS
    return 20.0 * float(np.log10(rms))


def scale_to_dbfs(samples: np.ndarray, target_dbfs: float) -> np.ndarray:
    """The clip at a chosen RMS level, for tests and benchmarks that compare loudness."""
    current = rms_dbfs(samples)
    gain = 10 ** ((target_dbfs - current) / 20.0)
    return np.clip(samples.astype(np.float32) * gain, -32768, 32767).astype(np.int16)
