"""The audio frame as this project carries it, and its clock.

Everything works on packed signed 16-bit PCM held in numpy arrays, because that is what
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


def first_channel(frame: av.AudioFrame) -> np.ndarray:
    """The first channel of a packed s16 frame, as a view: what a meter or a recording of
    the call needs, without the cost of mixing down on the audio path."""
    data = frame.to_ndarray().reshape(-1)
    return data[:: len(frame.layout.channels)]


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
