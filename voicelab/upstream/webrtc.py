"""The WebRTC transport: one aiortc peer with the microphone track, the model's audio and
the ``oai-events`` data channel, set up by one HTTP exchange (``signaling.py``).

The same code reaches OpenAI and the local server; only ``base_url`` and the key differ. It
runs on whichever asyncio loop calls ``connect`` and must be used from that loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab.media.relay_track import FrameRelayTrack
from voicelab.protocol import server_events
from voicelab.protocol.client_events import ClientEvent, encode
from voicelab.upstream import signaling
from voicelab.upstream.transport import ChannelClosed, Listener, Target

log = logging.getLogger(__name__)


class WebRtcTransport:
    def __init__(
        self,
        target: Target,
        session: dict[str, Any],
        mic: MediaStreamTrack,
        listener: Listener,
        signaling_timeout_s: float = signaling.DEFAULT_TIMEOUT_S,
    ) -> None:
        self.target = target
        self.session = session
        self.mic = mic
        if isinstance(mic, FrameRelayTrack):
            mic.packets = FrameRelayTrack.send_packets  # aiortc packs Opus packets as they are
        self.listener = listener
        self.signaling_timeout_s = signaling_timeout_s
        # No STUN: both OpenAI and the local server answer with host candidates, and a
        # STUN lookup (aiortc's default is Google's) only delays setup, or fails offline.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.on("iceconnectionstatechange", self._state_changed)
        self.pc.on("connectionstatechange", self._state_changed)
        self.channel: Any = None
        self.call_id: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = False

    async def connect(self) -> str:
        """Offer, POST, answer; returns the call id. Raises ``SignalingError``."""
        self.pc.addTransceiver(self.mic, direction="sendrecv")
        self.channel = self.pc.createDataChannel("oai-events")
        self.channel.on("message", self._on_message)
        self.channel.on("close", self._state_changed)
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        try:
            answer = await signaling.create_call(
                self.target.base_url,
                self.target.api_key,
                self.pc.localDescription.sdp,
                self.session,
                self.signaling_timeout_s,
            )
        except BaseException:
            await self.pc.close()
            raise
        self.call_id = answer.call_id
        await self.pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        return answer.call_id

    def _on_message(self, message: str | bytes) -> None:
        try:
            self.listener.on_event(server_events.parse(message))
        except Exception:  # raised into aiortc, it would close the whole transport
            log.exception("the event listener failed")

    def _state_changed(self) -> None:
        self.listener.on_state(self.state)

    @property
    def state(self) -> str:
        """ICE's view, unless the whole connection has failed or closed, or the event
        channel has (a call without its events cannot go on)."""
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            return state
        if self.channel is not None and self.channel.readyState == "closed":
            return "closed"
        return self.pc.iceConnectionState

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            try:
                self.listener.on_audio(frame)
            except Exception:  # one bad frame must not end the model's voice
                log.exception("the audio listener failed on a frame")

    def send(self, event: ClientEvent) -> None:
        data = encode(event)
        if self.channel is None or self.channel.readyState != "open":
            raise ChannelClosed("The call's event channel is not open.")
        self.channel.send(data)

    def send_raw(self, data: str) -> None:
        """For tests of a server's handling of bad input: no checks at all."""
        self.channel.send(data)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.call_id:
            with contextlib.suppress(signaling.SignalingError):
                await signaling.hang_up(self.target.base_url, self.target.api_key, self.call_id)
        if self._reader is not None:
            self._reader.cancel()
        self.mic.stop()
        await self.pc.close()


@dataclass(frozen=True)
class WebRtcConnector:
    """The ``Connector`` for WebRTC calls."""

    signaling_timeout_s: float = signaling.DEFAULT_TIMEOUT_S

    def __call__(
        self, target: Target, session: dict[str, Any], mic: MediaStreamTrack, listener: Listener
    ) -> WebRtcTransport:
        return WebRtcTransport(target, session, mic, listener, self.signaling_timeout_s)
