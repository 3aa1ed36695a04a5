"""What a call needs from an upstream connection, whatever carries it.

A transport is built for one call by a ``Connector`` with where to go, the session to start
with, the microphone track to send and the listener to report to; then ``connect``, ``send``
and ``close`` are all the call uses. WebRTC (``webrtc.py``) is the first implementation; a
WebSocket transport slots in by being another ``Connector``.

Everything runs on the call's own loop: the call calls the transport there, and the
transport calls its listener there only, and never from inside ``send`` (an answer comes
later, as the network would bring it: observers see a request before its answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
from aiortc.mediastreams import MediaStreamTrack

from voicelab.protocol.backends import Backend
from voicelab.protocol.client_events import ClientEvent
from voicelab.protocol.server_events import ServerEvent


@dataclass(frozen=True)
class Target:
    """Where a call goes. The key is kept out of ``repr`` so it never reaches a log."""

    base_url: str
    api_key: str = field(repr=False)
    backend: Backend = "openai"


class SetupError(Exception):
    """A call could not be started or ended; ``str()`` is one sentence for the user."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class ChannelClosed(ConnectionError):
    """An event could not go: the connection's event channel is not open."""


class Listener(Protocol):
    """What a transport reports, on the call's loop, never from within ``send``. A
    listener must not raise."""

    def on_event(self, event: ServerEvent) -> None:
        """A server event, parsed (GA names; garbage as ``MALFORMED``)."""

    def on_audio(self, frame: av.AudioFrame) -> None:
        """A frame of the model's voice: packed s16 stereo 48 kHz, as WebRTC decodes it."""

    def on_state(self, state: str) -> None:
        """The connection's state: new, checking, connected, completed, failed, closed."""


class Transport(Protocol):
    async def connect(self) -> str:
        """Open the call; returns its id. Raises ``SetupError`` with the user's sentence."""

    def send(self, event: ClientEvent) -> None:
        """Send one client event now. Raises ``EventTooLarge``, or ``ChannelClosed`` (a
        ``ConnectionError``) when it cannot go."""

    async def close(self) -> None:
        """Hang up (so billing stops now) and release everything; safe to call twice."""


#: Builds the transport of one call: (target, session JSON, microphone track, listener).
Connector = Callable[[Target, dict[str, Any], MediaStreamTrack, Listener], Transport]
