"""One upstream Realtime call from the client side: the aiortc peer, its microphone track,
the model's audio, and the ``oai-events`` channel.

The same code reaches OpenAI and the local server; only ``base_url`` and the key differ.
It runs on whichever asyncio loop calls ``connect`` and must be used from that loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab import events, rtp_level, signaling
from voicelab.pcm_track import PcmTrack

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 64 * 1024


class EventTooLarge(ValueError):
    """A client event over the data channel's 64 KiB limit."""


class RealtimeConnection:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        session: dict[str, Any],
        on_event: Callable[[dict[str, Any]], None],
        on_audio: Callable[[av.AudioFrame], None] | None = None,
        mic_buffer_s: float = 2.0,
        *,
        mic: MediaStreamTrack | None = None,
        on_state: Callable[[str], None] | None = None,
        signaling_timeout_s: float = signaling.DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self.session = session
        self.on_event = on_event
        self.on_audio = on_audio
        # Bounded: if the far side stalls, old microphone audio is dropped, never hoarded.
        # A relay (the bridge) brings its own track, fed frame by frame from the browser.
        self.mic: MediaStreamTrack = mic or PcmTrack(max_buffer_s=mic_buffer_s, drop_oldest=True)
        self.on_state = on_state
        self.signaling_timeout_s = signaling_timeout_s
        # No STUN: both OpenAI and the local server answer with host candidates, and a
        # STUN lookup (aiortc's default is Google's) only delays setup, or fails offline.
        rtp_level.install()
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
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        try:
            answer = await signaling.create_call(
                self.base_url,
                self._api_key,
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
            self.on_event(events.parse(message))
        except Exception:  # raised into aiortc, it would close the whole transport
            log.exception("the event handler failed")

    def _state_changed(self) -> None:
        if self.on_state is not None:
            self.on_state(self.ice_state)

    @property
    def ice_state(self) -> str:
        """ICE's view, unless the whole connection has failed or closed."""
        state = self.pc.connectionState
        return state if state in ("failed", "closed") else self.pc.iceConnectionState

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.on_audio is not None:
                try:
                    self.on_audio(frame)
                except Exception:  # one bad frame must not end the model's voice
                    log.exception("the audio handler failed on a frame")

    def send(self, event: dict[str, Any]) -> None:
        """Send one client event; refuses (EventTooLarge) what the channel would drop."""
        data = json.dumps(event)
        if len(data.encode()) > MAX_EVENT_BYTES:
            raise EventTooLarge(
                f"The event is {len(data.encode())} bytes; the data channel takes at most "
                f"{MAX_EVENT_BYTES}. Shorten the instructions or split the message."
            )
        if self.channel is None or self.channel.readyState != "open":
            raise ConnectionError("The call's event channel is not open.")
        self.channel.send(data)

    def send_raw(self, data: str) -> None:
        """For tests of a server's handling of bad input: no checks at all."""
        self.channel.send(data)

    def push_mic(self, samples: np.ndarray) -> None:
        """48 kHz mono s16 audio for the upstream; paced out at real time."""
        assert isinstance(self.mic, PcmTrack), "push_mic needs the built-in microphone track"
        self.mic.push(samples)

    async def close(self, hang_up: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if hang_up and self.call_id:
            with contextlib.suppress(signaling.SignalingError):
                await signaling.hang_up(self.base_url, self._api_key, self.call_id)
        if self._reader is not None:
            self._reader.cancel()
        self.mic.stop()
        await self.pc.close()
