"""A call's audio, written as it happens: both directions side by side in one stereo file.

Raw interleaved s16le at 16 kHz, appended: whatever reached the disk before the app was
killed is a valid recording, where a WAV header written at the end would be missing. The
header is added only when the file is read (``wav_from_pcm``).

Left (channel 0) is what went upstream (the user's microphone), right (channel 1) what went
to the browser (the model's voice). Each chunk is placed by the time it began, on one clock
for both, so the two stay aligned even when one direction sends nothing for a while.
"""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import av
import numpy as np

RATE = 16000
_IN_RATE = 48000
_FRAME_BYTES = 4  # one stereo s16 frame
_GAP = RATE * 20 // 1000  # a later start than this is a pause, filled with silence
_MAX_LAG = RATE  # a channel this far behind the other is silent, not late
_MAX_PENDING = 5 * RATE  # flushed by itself beyond this, whoever forgets to flush
_EMPTY = np.zeros(0, dtype=np.int16)


def _samples(frames: list[av.AudioFrame]) -> np.ndarray:
    if not frames:
        return _EMPTY
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


class StereoPcmFile:
    """Used from one thread (the history writer's)."""

    def __init__(self, path: Path, max_seconds: float = 3600.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._max = max(0, int(max_seconds * RATE))
        self._file = open(self.path, "ab")  # noqa: SIM115 - open for the file's life
        size = self._file.tell()
        if size % _FRAME_BYTES:  # a frame cut short by a kill: drop it to stay aligned
            size -= size % _FRAME_BYTES
            self._file.truncate(size)
        self._written = size // _FRAME_BYTES
        #: per channel: the sample index (from the call's start) that comes next
        self._cursor = [self._written, self._written]
        self._pending: list[list[np.ndarray]] = [[], []]
        self._resamplers = [
            av.AudioResampler(format="s16", layout="mono", rate=RATE) for _ in range(2)
        ]
        self._closed = False

    @property
    def samples_written(self) -> int:
        """Stereo frames on disk."""
        return self._written

    @property
    def duration_s(self) -> float:
        return self._written / RATE

    def write(self, channel: int, samples: np.ndarray, at: float) -> None:
        """``samples``: int16 mono at 48 kHz that began ``at`` seconds after the call's start."""
        if channel not in (0, 1):
            raise ValueError(f"channel must be 0 or 1, not {channel!r}")
        if self._closed:
            return
        mono = np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1)
        if mono.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(mono, format="s16", layout="mono")
        frame.sample_rate = _IN_RATE
        out = _samples(self._resamplers[channel].resample(frame))
        if math.isfinite(at):
            wanted = round(at * RATE)
            if wanted - self._cursor[channel] > _GAP:
                self._pad(channel, wanted)
        # Behind the cursor (a little drift): appended, never overlapping what is there.
        self._append(channel, out)
        if max(self._cursor) - self._written > _MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Write what both channels cover; a channel more than a second behind is padded
        with silence first, so a silent direction does not hold the file back."""
        if not self._closed:
            self._flush(floor=max(self._cursor) - _MAX_LAG)

    def close(self) -> None:
        if self._closed:
            return
        try:
            for channel, resampler in enumerate(self._resamplers):
                self._append(channel, _samples(resampler.resample(None)))
            self._flush(floor=max(self._cursor))
        finally:
            self._closed = True
            self._file.close()

    def _pad(self, channel: int, upto: int) -> None:
        count = min(upto, self._max) - self._cursor[channel]
        if count > 0:
            self._append(channel, np.zeros(count, dtype=np.int16))

    def _append(self, channel: int, data: np.ndarray) -> None:
        room = self._max - self._cursor[channel]
        if room <= 0 or len(data) == 0:
            return
        data = data[:room]
        self._pending[channel].append(data)
        self._cursor[channel] += len(data)

    def _take(self, channel: int, count: int) -> np.ndarray:
        pending = self._pending[channel]
        joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
        self._pending[channel] = [joined[count:]] if len(joined) > count else []
        return joined[:count]

    def _flush(self, floor: int) -> None:
        for channel in (0, 1):
            self._pad(channel, floor)
        count = min(self._cursor) - self._written
        if count <= 0:
            return
        frames = np.empty((count, 2), dtype="<i2")
        frames[:, 0] = self._take(0, count)
        frames[:, 1] = self._take(1, count)
        self._file.write(frames.tobytes())
        self._file.flush()
        self._written += count


def wav_from_pcm(path: Path) -> bytes:
    """The raw file as a WAV; a trailing partial frame (the file is being written, or the
    app was killed mid-write) is left out."""
    data = Path(path).read_bytes()
    data = data[: len(data) - len(data) % _FRAME_BYTES]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(data)
    return buffer.getvalue()


def microphone(wav: bytes) -> tuple[np.ndarray, int]:
    """The left channel of a stored recording (what went upstream) and its rate: what a
    replay sends again."""
    with wave.open(io.BytesIO(wav)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return audio.reshape(-1, w.getnchannels())[:, 0].copy(), w.getframerate()
