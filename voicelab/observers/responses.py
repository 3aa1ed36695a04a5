"""Is a response running? Asked by the live settings (the speed waits for the answer to
end), by Interrupt (``response.cancel`` only while there is something to cancel), and
answered here only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voicelab.observers.stream import Direction


class ResponseState:
    def __init__(self) -> None:
        #: Between ``response.created`` and ``response.done``.
        self.running = False

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        if direction != "received":
            return
        kind = event.get("type")
        if kind == "response.created":
            self.running = True
        elif kind == "response.done":
            self.running = False
