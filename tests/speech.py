"""Test speech: real synthesized phrases, as a microphone would hear them."""

from __future__ import annotations

import numpy as np

from voicelab.local.synthesizer import synthesizer
from voicelab.media.frames import WEBRTC_RATE
from voicelab.media.levels import scale_to_dbfs

#: The voice and rate the tests speak with (alloy is eSpeak's en-us+m1).
MIC_VOICE = "alloy"
MIC_SPEED = 0.86  # about 150 words per minute

#: The phrase most tests speak, and the words of it a recognizer must get (two of them).
WEATHER = "hello world, what is the weather like today"
WEATHER_WORDS = {"hello", "world", "what", "weather", "like", "today"}


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * WEBRTC_RATE), dtype=np.int16)


def phrase(text: str, dbfs: float = -24.0, lead_s: float = 0.3, tail_s: float = 0.0) -> np.ndarray:
    """48 kHz mono s16 speech at a chosen RMS level, with silence around it."""
    speech = synthesizer().synthesize(text, MIC_VOICE, MIC_SPEED).samples
    return np.concatenate([silence(lead_s), scale_to_dbfs(speech, dbfs), silence(tail_s)])


def pitch_hz(samples: np.ndarray) -> float:
    """Median autocorrelation pitch over voiced 40 ms frames of 48 kHz speech."""
    x = samples.astype(np.float32) / 32768
    size, pitches = 1920, []
    for start in range(0, len(x) - size, size):
        frame = x[start : start + size]
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        ac = np.correlate(frame, frame, "full")[size - 1 :]
        lo, hi = WEBRTC_RATE // 400, WEBRTC_RATE // 70
        pitches.append(WEBRTC_RATE / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(pitches))
