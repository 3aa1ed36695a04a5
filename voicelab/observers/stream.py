"""One call's event stream: every event, sent or received, goes once to every observer.

Observers are written on the call's loop and read by the page from another thread; both
happen under ``EventStream.lock``, so a snapshot never sees an observer half way through an
event. A failing observer is skipped: the others, and the call, go on. Its first failure is
logged with the traceback and reported (``dispatch`` returns False) so the page can say so
once; later ones are only counted, so a broken observer cannot flood the log or the page.
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
        self._failed: set[int] = set()  # id() of the observers that have failed
        self.failures = 0

    def register(self, observer: Observer) -> None:
        with self.lock:
            self._observers.append(observer)

    def dispatch(self, direction: Direction, event: Mapping[str, Any]) -> bool:
        """Feed ``event`` to every observer; False if one of them failed for the first time."""
        ok = True
        with self.lock:
            for observer in self._observers:
                try:
                    observer.observe(direction, event)
                except Exception:
                    self.failures += 1
                    if id(observer) in self._failed:
                        continue
                    self._failed.add(id(observer))
                    ok = False
                    log.exception(
                        "%s failed on a %s event", type(observer).__name__, event.get("type")
                    )
        return ok
