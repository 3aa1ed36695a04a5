"""One call's event stream: every event, sent or received, goes once to every observer.

Observers are written on the call's loop and read by the page from another thread; both
happen under ``EventStream.lock``, so a snapshot never sees an observer half way through an
event. A failing observer is logged and skipped: the others, and the call, go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

Direction = Literal["sent", "received"]


class Observer(Protocol):
    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        """One event of the call, in the order it went out or came in."""


class EventStream:
    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._observers: list[Observer] = list(observers)
        #: Held while an event is dispatched and while the page reads the observers.
        self.lock = threading.Lock()

    def register(self, observer: Observer) -> None:
        with self.lock:
            self._observers.append(observer)

    def dispatch(self, direction: Direction, event: Mapping[str, Any]) -> bool:
        """Feed ``event`` to every observer; False if one of them failed on it."""
        ok = True
        with self.lock:
            for observer in self._observers:
                try:
                    observer.observe(direction, event)
                except Exception:
                    ok = False
                    log.exception(
                        "%s failed on a %s event", type(observer).__name__, event.get("type")
                    )
        return ok
