"""An outgoing audio track that forwards frames handed to it from another thread, each as
soon as it arrives. The bridge uses one per direction.

Both ends of the bridge already run at real time: the browser paces the microphone, and the
upstream paces the model's voice. Re-pacing either through a FIFO read on a fixed 20 ms tick
(what streamlit-webrtc's ``PcmAudioSource`` does) adds a wait for the next tick, 0-20 ms
depending on the phase of two unrelated clocks; measured at 16-22 ms p50 on loopback. Here
``recv`` returns the moment a frame is queued, and jitter is left to the receiving peer's
jitter buffer, which is built for it. When nothing arrives (not yet connected, the model
silent), 20 ms of silence goes out every 20 ms so the far side's clock keeps moving. The
stream stays on the wall clock: RTP time jumps over a stall of this loop, and silent frames
are dropped while a burst has put it more than 100 ms ahead.

The queue is bounded and drops its oldest frames, and ``clear`` empties it: a stalled peer
never grows memory, and after barge-in the user never hears stale speech.

A frame decoded from Opus goes out as the packet it came from (``patches.decode_keeping_packet``
keeps it): aiortc's sender packs an ``av.Packet`` as it is, where a frame costs a libopus
encode on a pool thread. Silence is one constant packet; a frame with no packet (made in
this process) is encoded here. Packets carry no RFC 6465 level, which nothing reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import sys
import threading
import time
from collections import deque

import av
import numpy as np
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab.media.frames import (
    STALL_S,
    WEBRTC_FRAME_SAMPLES,
    WEBRTC_RATE,
    first_channel,
    stall_jump,
)
from voicelab.media.level_ring import FrameTap
from voicelab.media.levels import SILENT_PEAK

log = logging.getLogger(__name__)

_TIME_BASE = fractions.Fraction(1, WEBRTC_RATE)
#: How far the stream may run ahead of the wall clock before silent frames are dropped.
MAX_AHEAD_S = 0.1
#: 20 ms of digital silence as libopus codes it (CELT, fullband, stereo): what aiortc's
#: encoder makes of a frame of zeros.
SILENT_OPUS = b"\xfc\xff\xfe"


class DelayStats:
    """The last ``size`` queue delays in seconds, for the bridge's own latency figures."""

    def __init__(self, size: int = 3000) -> None:
        self.values: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self.values.append(seconds)

    def percentile_ms(self, q: float) -> float | None:
        if not self.values:
            return None
        return float(np.percentile(np.fromiter(self.values, float), q)) * 1000.0


class FrameRelayTrack(MediaStreamTrack):
    """Carries decoded frames (packed s16 stereo 48 kHz, as aiortc decodes Opus) unchanged.

    ``put`` and ``clear`` may be called from any thread. The consuming loop is the one that
    calls ``recv`` (learned on the first call) unless given up front.
    """

    kind = "audio"
    #: Send Opus packets (see the module's docstring) unless told otherwise; a transport
    #: that is not aiortc needs samples and asks for frames.
    send_packets = True

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        max_frames: int = 25,
        gap_s: float = 0.04,
        *,
        packets: bool | None = None,
    ) -> None:
        super().__init__()
        self._loop = loop
        self.packets = self.send_packets if packets is None else packets
        self._encoder: OpusEncoder | None = None  # for frames that have no packet
        self.encoded = 0  # frames that had to be encoded here
        # deque append/popleft/clear are atomic in CPython: safe across threads.
        # Each frame with when it arrived, where it starts in the stream of frames put, and
        # whether it has sound in it.
        self._frames: deque[tuple[av.AudioFrame, float, int, bool]] = deque(maxlen=max_frames)
        self._put_samples = 0  # the stream position after the last frame put
        self._mark = 0  # frames from this stream position on count as heard
        self.heard_samples = 0  # samples at or after the mark that went out
        # Taking a frame and counting it happen under this lock, so a cut made on another
        # thread never sees a frame gone out but not yet counted.
        self._taking = threading.Lock()
        self._armed: tuple[int, int] | None = None  # (position, limit): looking for a sound
        self._since_armed = 0  # samples sent from the armed position on
        self._arrived: asyncio.Event | None = None
        self.gap_s = gap_s
        # The next frame's pts, which aiortc's encoder turns into its RTP timestamp: the
        # samples sent plus the time skipped over in stalls.
        self._pts = 0
        self._clock = 0.0  # wall time at which sample 0 was due
        self._zeros = np.zeros((1, WEBRTC_FRAME_SAMPLES * 2), dtype=np.int16)
        self.delays = DelayStats()
        #: Between one frame going out and the next: how evenly this process keeps the
        #: far side fed, before the network and the far side's own load add theirs.
        self.gaps = DelayStats()
        self._sent_at = 0.0
        self.forwarded = 0  # frames of real audio sent
        self.forwarded_samples = 0
        self.filled = 0  # frames of silence sent because nothing had arrived
        self.skipped_s = 0.0  # RTP time jumped over in stalls
        self.trimmed = 0  # silent frames dropped to bring the stream back on the clock
        #: Frames pushed out unsent by the bound (the oldest go first) once sending began.
        self.overflowed = 0
        self.cleared_frames = 0
        #: perf_counter time the last frame with sound in it went out (the idle upstream
        #: sends silence all the time, so "a frame went out" says nothing).
        self.last_sound_at = 0.0
        #: Told of every frame that goes out (meters, the call's recording). Replaced, never
        #: changed in place, so ``recv`` on another thread always sees a whole tuple.
        self.taps: tuple[FrameTap, ...] = ()

    @property
    def queued_frames(self) -> int:
        return len(self._frames)

    def add_tap(self, tap: FrameTap) -> None:
        self.taps = (*self.taps, tap)

    def remove_tap(self, tap: FrameTap) -> None:
        self.taps = tuple(t for t in self.taps if t is not tap)

    def put(self, frame: av.AudioFrame) -> bool:
        """From any thread: queue a frame for sending; whether it has sound in it."""
        position = self._put_samples
        loud = int(np.abs(frame.to_ndarray()).max(initial=0)) > SILENT_PEAK
        with self._taking:
            if self._armed is not None:
                self._place_mark(frame, position, loud)
            if len(self._frames) == self._frames.maxlen and self._arrived is not None:
                self.overflowed += 1  # counted once sending began: before, all is stale
            self._frames.append((frame, time.perf_counter(), position, loud))
            self._put_samples += frame.samples
        if self._loop is not None:
            # A closed loop means the consumer is gone and the frame has nowhere to go.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake)
        return loud

    def _wake(self) -> None:
        if self._arrived is not None:
            self._arrived.set()

    def clear(self) -> int:
        """From any thread: drop everything not yet sent; returns the frames dropped."""
        return self.cut()[0]

    def cut(self) -> tuple[int, int]:
        """From any thread: drop everything not yet sent; returns the frames dropped and
        ``heard_samples`` as of that moment."""
        with self._taking:
            dropped = len(self._frames)
            self._frames.clear()
            self.cleared_frames += dropped
            return dropped, self.heard_samples

    def mark(self, within_s: float = 0.3) -> None:
        """Count in ``heard_samples`` what goes out from the next sound put (the start of a
        new piece of model audio). Frames dropped by ``clear`` or by the bound never count,
        so the count is what the far side was actually sent.

        The server says an answer's audio has started before that audio reaches us: the
        receiving jitter buffer holds four packets first (80 ms in aiortc), during which
        the idle stream's silence keeps arriving. So the count starts at the first frame
        with sound in it, or, if none comes within ``within_s``, where it was asked."""
        with self._taking:
            self._armed = (self._put_samples, int(within_s * WEBRTC_RATE))
            self._mark = sys.maxsize  # nothing counts until the start is found
            self.heard_samples = 0
            self._since_armed = 0

    def _place_mark(self, frame: av.AudioFrame, position: int, loud: bool) -> None:
        """Under ``_taking``: ``recv`` reads the mark and counts from it."""
        assert self._armed is not None
        start, limit = self._armed
        if loud:
            self._mark, self._armed = position, None
        elif position + frame.samples - start >= limit:
            self._mark, self._armed = start, None
            self.heard_samples = self._since_armed

    def drop_queued(self) -> None:
        """Forget queued frames and their delay figures (audio from before the call)."""
        self.clear()
        self.delays.values.clear()

    def _count(self, frame: av.AudioFrame, position: int) -> None:
        """Under ``_taking``: a frame of the stream gone by, sent or trimmed (a silent frame
        trimmed was passed over, and the far side is as far into the answer)."""
        if position >= self._mark:
            self.heard_samples += frame.samples
        if self._armed is not None and position >= self._armed[0]:
            self._since_armed += frame.samples

    def _silence(self) -> av.AudioFrame:
        """20 ms of silence in the browser's own layout: the Opus encoder fixes its
        resampler on the first frame and refuses any other layout after it."""
        frame = av.AudioFrame.from_ndarray(self._zeros, format="s16", layout="stereo")
        frame.sample_rate = WEBRTC_RATE
        frame.opaque = SILENT_OPUS
        return frame

    def _packet(self, frame: av.AudioFrame) -> av.Packet:
        """The Opus packet ``frame`` was decoded from, or ``frame`` encoded (on this loop:
        such frames are rare, and one encoder keeps one stream's state)."""
        payload = frame.opaque
        if not isinstance(payload, bytes):
            self.encoded += 1
            payload = SILENT_OPUS
            try:
                if self._encoder is None:
                    self._encoder = OpusEncoder()
                encoded, _ = self._encoder.encode(frame)
                payload = encoded[0] if encoded else SILENT_OPUS
            except (av.FFmpegError, ValueError, AssertionError) as exc:  # not a dead sender
                log.warning("a frame could not be encoded (%s); silence went instead", exc)
        packet = av.Packet(payload)
        packet.pts, packet.time_base = frame.pts, frame.time_base
        return packet

    def _tell_taps(self, samples: np.ndarray | None) -> None:
        at = time.monotonic()
        for tap in self.taps:
            try:
                tap.sent(samples, at)
            except Exception:  # the audio goes on without it
                log.exception("%s failed and was removed", type(tap).__name__)
                self.remove_tap(tap)

    async def recv(self) -> av.AudioFrame | av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.perf_counter()
        if self._arrived is None:
            self._loop = self._loop or asyncio.get_running_loop()
            self._arrived = asyncio.Event()
            self._clock = now
        # RTP time (the pts) keeps pace with the wall clock, or the receiver's jitter buffer
        # drifts. Silence fills in only when nothing has arrived by the time the next 20 ms
        # is due (plus ``gap_s`` of slack for jitter). After a stall of this process the pts
        # jumps over it (``stall_jump``) rather than running on, which makes every frame
        # after the stall look that late to the receiver's jitter buffer.
        due = self._clock + self._pts / WEBRTC_RATE
        if due < now - STALL_S:
            jump = stall_jump(now - due)
            self._pts += jump
            self.skipped_s += jump / WEBRTC_RATE
            due = self._clock + self._pts / WEBRTC_RATE
        while True:
            if not self._frames:
                self._arrived.clear()
                wait_s = due + self.gap_s - time.perf_counter()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), max(0.0, wait_s))
            if self.readyState != "live":
                raise MediaStreamError
            with self._taking:
                try:
                    frame, at, position, loud = self._frames.popleft()
                except IndexError:
                    frame = self._silence()
                    self.filled += 1
                    loud = False
                    samples = None
                    break
                self._count(frame, position)
                # Frames that queued up while this loop stalled put the stream ahead of the
                # clock, and the receiver holds that surplus as delay until it catches up:
                # silent ones are dropped until the stream is back on the clock, sound
                # never. (A 0.86 s stall at the start of a call once sent 20 queued frames
                # at once: 0.4 s ahead.)
                if not loud and due - time.perf_counter() > MAX_AHEAD_S:
                    self.trimmed += 1
                    continue
                self.delays.add(time.perf_counter() - at)
                self.forwarded += 1
                self.forwarded_samples += frame.samples
                if loud:
                    self.last_sound_at = time.perf_counter()
                samples = first_channel(frame) if self.taps else None
                break
        if self.taps:
            self._tell_taps(samples)
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        out = self._packet(frame) if self.packets else frame
        self._pts += frame.samples
        sent_at = time.perf_counter()
        if self._sent_at:
            self.gaps.add(sent_at - self._sent_at)
        self._sent_at = sent_at
        return out
