"""Loudness of PCM audio, in dB relative to full scale."""

from __future__ import annotations

import numpy as np

_SILENCE_DBFS = -100.0
#: A frame whose peak is at most this (-60 dBFS) has no sound in it.
SILENT_PEAK = 32


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
