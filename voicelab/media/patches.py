"""The core's patches of libraries, installed at start-up (the app, the local server):
aiortc's RFC 6465 audio level, vectorised; ICE consent checks that wait for a busy peer;
each decoded Opus frame keeping the packet it came from, so it can be passed on as is; and
audio decoded on the loop that received it, without a thread hand-off per frame.

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

import asyncio
import logging
import math
import queue
import random
from typing import Any

import av
import numpy as np
from aioice import ice, stun
from aiortc import rtp
from aiortc.codecs import get_decoder, opus
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver

log = logging.getLogger(__name__)

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


#: aioice's own, kept so a test can check what it replaces is still what it was.
AIOICE_QUERY_CONSENT = ice.Connection.query_consent
#: Each consent check is sent again after 0.5 s and 1 s before it counts as failed.
CONSENT_RETRANSMISSIONS = 2


async def query_consent(self: ice.Connection) -> None:
    """aioice's consent freshness (RFC 7675), with each check given 3.5 s instead of 0.5 s.

    aioice sends a check every ~5 s with no retransmission and declares consent lost after
    six in a row go unanswered within 0.5 s. A peer whose loop is busy answers every check,
    late, and still loses its call: with ten calls on two cores the browser legs and the
    upstream calls dropped this way while both ends were up (tests/test_isolation.py).
    RFC 7675 asks only that consent expire 30 s after the last answer, which still holds:
    six checks unanswered for 3.5 s each span that.
    """
    assert self.remote_password is not None
    failures = 0
    while True:
        await asyncio.sleep(ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in self._nominated.values():
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                failures = 0
            except stun.TransactionError:
                failures += 1
            if failures >= ice.CONSENT_FAILURES:
                self._Connection__log_info("Consent to send expired")  # type: ignore[attr-defined]
                self._query_consent_task = None
                return await self.close()


#: aiortc's own, kept so the patch can call it and a test can check what it wraps.
AIORTC_OPUS_DECODE = opus.OpusDecoder.decode


def decode_keeping_packet(self: opus.OpusDecoder, encoded_frame: JitterFrame) -> list[av.Frame]:
    """aiortc's Opus decode, with the packet in the frame's ``opaque``.

    The bridge forwards every frame unchanged from one peer to the other; re-encoding it
    costs a libopus encode and a pool thread hand-off per frame and per direction (about
    0.3 ms each, four per call every 20 ms). A relay track sends the packet instead
    (``voicelab/media/relay_track.py``), and the decoded samples still feed the meters,
    the recording and barge-in. One packet is one frame for Opus; anything else is left
    untagged and is encoded as before."""
    frames = AIORTC_OPUS_DECODE(self, encoded_frame)
    if len(frames) == 1:
        frames[0].opaque = encoded_frame.data
    return frames


class InlineAudioDecoding(queue.Queue):
    """An audio receiver's decoder queue that decodes on the receiver's own loop.

    aiortc hands every encoded frame to a decoder thread through a ``queue.Queue``, and the
    thread hands each decoded frame back with ``run_coroutine_threadsafe``: two thread
    wake-ups per 20 ms per receiver, which cost this process more than the Opus decode
    itself (py-spy, 8 bridged calls: the loops' self-pipe writes and reads 5 % of samples,
    the decodes 4 %). A bridged call has two receivers. Here the frame is decoded where it
    was put, on the loop that received it, and goes straight into the track's queue. Only
    the end of the stream (``None``) still goes to aiortc's thread, which ends the track
    as before; video keeps aiortc's thread."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        super().__init__()
        self._receiver = receiver
        self._decoder: Decoder | None = None
        self._codec_name: str | None = None

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)
            return
        codec, encoded_frame = item
        if self._decoder is None or codec.name != self._codec_name:
            self._decoder, self._codec_name = get_decoder(codec), codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            log.warning("an audio frame could not be decoded (%s)", exc)
            return
        track = self._receiver._track
        for frame in frames:
            track._queue.put_nowait(frame)


#: aiortc's own, kept so the patch can call it and a test can check what it wraps.
AIORTC_RECEIVER_INIT = RTCRtpReceiver.__init__


def receiver_decoding_inline(self: RTCRtpReceiver, kind: str, transport: Any) -> None:
    AIORTC_RECEIVER_INIT(self, kind, transport)
    if kind == "audio":
        self._RTCRtpReceiver__decoder_queue = InlineAudioDecoding(self)  # type: ignore[attr-defined]


def install() -> None:
    """aiortc's sender looks the level function up on ``aiortc.rtp`` for every frame;
    aioice starts ``query_consent`` by name when a connection is up; every receiver's
    decoder thread makes its own ``OpusDecoder``; a receiver makes its decoder queue as it
    is made."""
    rtp.compute_audio_level_dbov = audio_level_dbov
    ice.Connection.query_consent = query_consent  # type: ignore[method-assign]
    opus.OpusDecoder.decode = decode_keeping_packet  # type: ignore[method-assign]
    RTCRtpReceiver.__init__ = receiver_decoding_inline  # type: ignore[method-assign]
