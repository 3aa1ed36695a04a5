"""The protocol events of one call, both ways, as they happened: what a user tuning a session
(and a test) reads to see exactly which ``session.update`` went out and what came back.

Bounded, oldest dropped. The call's observers are handed events already cleaned of secrets
(``voicelab.protocol.redact``), so the log is safe to show, store and export.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicelab.observers.stream import Direction


@dataclass(frozen=True)
class Logged:
    at: float  # time.monotonic()
    direction: Direction
    event: Mapping[str, Any]
    seq: int = 0  # the event's place in the call, from 1
    wall: float = 0.0  # time.time(), for people and the history store

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))


class EventLog:
    """Written on the call's thread, read from any."""

    def __init__(self, size: int = 1000) -> None:
        self._entries: deque[Logged] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.count = 0
        self.last: Logged | None = None

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        with self._lock:
            self.count += 1
            self.last = Logged(time.monotonic(), direction, event, self.count, time.time())
            self._entries.append(self.last)

    def entries(
        self, kind: str | None = None, direction: Direction | None = None
    ) -> tuple[Logged, ...]:
        with self._lock:
            found = tuple(self._entries)
        return tuple(
            e
            for e in found
            if (kind is None or e.type == kind) and (direction is None or e.direction == direction)
        )
