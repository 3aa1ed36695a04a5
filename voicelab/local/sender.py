"""How the local server's events reach the client: each gets an ``event_id`` of OpenAI's
shape and goes out on the data channel as JSON. Faults (``faults.py``) wrap a sender rather
than living in it."""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from voicelab.protocol.ids import new_id

log = logging.getLogger(__name__)


class Sender(Protocol):
    @property
    def is_open(self) -> bool:
        """Would an event go out now? (Before the channel opens, or after, it is dropped.)"""

    def send(self, event: dict[str, Any]) -> None: ...

    def send_raw(self, data: str) -> None: ...


class ChannelSender:
    """Sends on the call's ``oai-events`` channel once the client has opened it; before
    that (or after it closed) events have nowhere to go and are dropped."""

    def __init__(self) -> None:
        self.channel: Any = None

    @property
    def is_open(self) -> bool:
        return self.channel is not None and self.channel.readyState == "open"

    def send(self, event: dict[str, Any]) -> None:
        self.send_raw(json.dumps({"event_id": new_id("event"), **event}))

    def send_raw(self, data: str) -> None:
        if not self.is_open:
            return
        try:
            self.channel.send(data)
        except ValueError as exc:  # longer than the client takes: it never gets it
            log.warning("an event was not sent: %s", exc)
