"""An outgoing WebRTC audio track fed from a bounded PCM buffer, paced at real time.

aiortc pulls frames by calling ``recv()`` as fast as it returns, so the track itself must
sleep to keep 20 ms of audio per 20 ms of wall time; with nothing buffered it sends silence,
which keeps RTP timestamps and the far side's jitter buffer steady.

It also answers "how much of what was pushed has actually gone out?", which barge-in,
``output_audio_buffer.started/stopped`` and truncation all need.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab.media.frames import STALL_S, WEBRTC_FRAME_SAMPLES, WEBRTC_RATE, mono_frame, stall_jump


class BufferFull(Exception):
    """More audio was pushed than the track may hold."""


class PcmTrack(MediaStreamTrack):
    """48 kHz mono s16 track; ``push`` and ``clear`` must be called on the track's loop.

    Positions are counted in samples since the track was created, over everything pushed
    (``pushed_total``) and everything sent (``sent_total``), so a caller can remember where
    its audio starts and ask when it has gone out.
    """

    kind = "audio"

    def __init__(self, max_buffer_s: float = 120.0, *, drop_oldest: bool = False) -> None:
        super().__init__()
        self.max_buffer_samples = int(max_buffer_s * WEBRTC_RATE)
        self.drop_oldest = drop_oldest
        self._chunks: deque[np.ndarray] = deque()
        self._buffered = 0
        self._head_offset = 0  # samples already taken from _chunks[0]
        self.pushed_total = 0
        self.sent_total = 0
        self.dropped_total = 0
        self._waiters: list[tuple[int, asyncio.Future[bool]]] = []
        self._start: float | None = None
        self._pts = 0
        self.skipped_samples = 0  # stream time jumped over after stalls
        self._silence = np.zeros(WEBRTC_FRAME_SAMPLES, dtype=np.int16)

    @property
    def buffered_samples(self) -> int:
        return self._buffered

    def push(self, samples: np.ndarray) -> int:
        """Queue audio; returns the stream position where it starts."""
        samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        if self._buffered + len(samples) > self.max_buffer_samples:
            if not self.drop_oldest:
                raise BufferFull(
                    f"the track holds at most {self.max_buffer_samples / WEBRTC_RATE:.0f} s"
                )
            if len(samples) > self.max_buffer_samples:  # newest audio wins
                self.dropped_total += len(samples) - self.max_buffer_samples
                samples = samples[-self.max_buffer_samples :]
            self._drop(self._buffered + len(samples) - self.max_buffer_samples)
        start = self.pushed_total
        if len(samples):
            self._chunks.append(samples)
            self._buffered += len(samples)
            self.pushed_total += len(samples)
        return start

    def clear(self) -> int:
        """Drop everything not yet sent; waiters for dropped audio get False. Returns samples."""
        dropped = self._buffered
        self._drop(dropped)
        return dropped

    def _drop(self, n: int) -> None:
        n = min(n, self._buffered)
        dropped = n
        while n > 0 and self._chunks:
            head = self._chunks[0]
            left = len(head) - self._head_offset
            if left <= n:
                self._chunks.popleft()
                self._head_offset = 0
                n -= left
            else:
                self._head_offset += n
                n = 0
        self._buffered -= dropped
        self.dropped_total += dropped
        # Dropped audio counts as never pushed, so positions stay monotonic and waiters for
        # it resolve False. (With drop_oldest the positions of later audio shift: nothing
        # waits on a microphone's positions.)
        self.pushed_total -= dropped
        self._settle_waiters()

    async def wait_sent(self, position: int) -> bool:
        """True once the stream has sent up to ``position``; False if that audio was cleared."""
        if self.sent_total >= position:
            return True
        if position > self.pushed_total:
            return False
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append((position, fut))
        return await fut

    def _settle_waiters(self) -> None:
        keep = []
        for position, fut in self._waiters:
            if fut.done():
                continue
            if self.sent_total >= position:
                fut.set_result(True)
            elif position > self.pushed_total:
                fut.set_result(False)
            else:
                keep.append((position, fut))
        self._waiters = keep

    def _take(self, n: int) -> tuple[np.ndarray, int]:
        out = np.empty(n, dtype=np.int16)
        filled = 0
        while filled < n and self._chunks:
            head = self._chunks[0]
            part = head[self._head_offset : self._head_offset + n - filled]
            out[filled : filled + len(part)] = part
            filled += len(part)
            self._head_offset += len(part)
            if self._head_offset >= len(head):
                self._chunks.popleft()
                self._head_offset = 0
        if filled < n:
            out[filled:] = 0
        self._buffered -= filled
        return out, filled

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += WEBRTC_FRAME_SAMPLES
            wait = self._start + self._pts / WEBRTC_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -STALL_S:  # the loop stalled: go on from now, not in a burst
                jump = stall_jump(-wait)
                self._pts += jump
                self.skipped_samples += jump
        if self._buffered:
            samples, real = self._take(WEBRTC_FRAME_SAMPLES)
            self.sent_total += real
            self._settle_waiters()
        else:
            samples = self._silence
        return mono_frame(samples, WEBRTC_RATE, pts=self._pts)

    def stop(self) -> None:
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_result(False)
        self._waiters = []
        super().stop()
