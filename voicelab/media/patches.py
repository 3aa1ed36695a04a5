"""The core's one patch of a library, installed at start-up (the app, the local server):
aiortc's RFC 6465 audio level, vectorised.

aiortc stamps every audio frame it sends with its level (the ``ssrc-audio-level`` header
extension), computed in a Python loop over the samples. In the app, with two senders at 50
frames a second, that loop held the GIL for a tenth of each second of a call (py-spy),
time the call's audio loops waited for. ``audio_level_dbov`` gives the same number with
numpy; ``install`` puts it in place for every sender in the process (a program that uses
the core without the app or the local server calls it itself; without it only speed
suffers). aiortc is pinned with streamlit-webrtc; a test fails if an upgrade stops looking
the function up per frame.
"""

from __future__ import annotations

import math

import av
import numpy as np
from aiortc import rtp

MAX_SAMPLE = 32767
MIN_LEVEL = -127
#: aiortc's own, kept so a test can hold the two side by side.
AIORTC_LEVEL = rtp.compute_audio_level_dbov


def audio_level_dbov(frame: av.AudioFrame) -> int:
    """Exactly ``aiortc.rtp.compute_audio_level_dbov``: the energy of every s16 value in the
    first plane, over ``frame.samples`` (so a stereo frame reads 3 dB louder, as there).
    Integer arithmetic, as aiortc's sum is exact too, and no BLAS threads."""
    values = np.frombuffer(frame.planes[0], dtype=np.int16).astype(np.int64)
    rms = math.sqrt(int(values @ values) / (frame.samples * MAX_SAMPLE * MAX_SAMPLE))
    if rms <= 0:
        return MIN_LEVEL
    return round(min(max(20 * math.log10(rms), MIN_LEVEL), 0))


def install() -> None:
    """aiortc's sender looks the function up on ``aiortc.rtp`` for every frame."""
    rtp.compute_audio_level_dbov = audio_level_dbov
