"""Keeps the ledger's rows of this replica's calls up to date, from a thread of its own: a
call's time and spend are read from its bridge every ``every_s`` and written, so no write
ever waits on the audio path or the page, and a replica that dies stops refreshing its
rows (the ledger then stops counting them as open)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from voicelab.call.limits import Progress
from voicelab.hosting.ledger import Ledger

log = logging.getLogger(__name__)


@dataclass
class _Watched:
    read: Callable[[], Progress]
    started_at: float
    costs: dict[str, float] = field(default_factory=dict)  # upstream call -> spend

    def figures(self, now: float) -> tuple[float, float]:
        return now - self.started_at, sum(self.costs.values())


class LedgerKeeper:
    def __init__(
        self, ledger: Ledger, every_s: float = 2.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.ledger = ledger
        self.every_s = every_s
        self.clock = clock
        self.failures = 0  # writes that failed (the calls go on regardless)
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="voicelab-ledger", daemon=True)
        self._thread.start()

    def watch(self, call_key: str, read: Callable[[], Progress], started_at: float) -> None:
        """From the page, right after ``Ledger.open``: keep this call's row current."""
        with self._lock:
            self._watched[call_key] = _Watched(read, started_at)

    def end(self, call_key: str) -> None:
        """From the page, when the same visitor starts again before a round saw their
        previous call end: its row ends now, with that call's last figures."""
        with self._lock:
            call = self._watched.pop(call_key, None)
        if call is not None:
            self._record(call_key, call, self.clock(), final=True)

    def watching(self) -> list[str]:
        with self._lock:
            return list(self._watched)

    def tick(self) -> None:
        """One round of reads and writes (the thread's; tests call it directly too)."""
        now = self.clock()
        with self._lock:
            watched = list(self._watched.items())
        for key, call in watched:
            if not self._record(key, call, now):
                with self._lock:
                    self._watched.pop(key, None)

    def _record(self, key: str, call: _Watched, now: float, final: bool = False) -> bool:
        """Read the call and write its row; whether it is still going."""
        try:
            progress = call.read()
        except Exception:  # a bridge that cannot say ends its row, not the keeper
            log.exception("a call's progress could not be read")
            progress = Progress(False)
        if progress.call_id is not None:
            call.costs[progress.call_id] = progress.cost_usd or 0.0
        going = progress.going and not final
        seconds, usd = call.figures(now)
        try:
            self.ledger.update(key, seconds, usd, now, ended=not going)
        except SQLAlchemyError as exc:
            self.failures += 1
            log.warning("the ledger could not be written (%s); trying again", exc)
            return not final
        return going

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.every_s)
            self._wake.clear()
            self.tick()

    def close(self) -> None:
        """Write every row one last time (as ended if its call has ended) and stop."""
        self._stopped = True
        self._wake.set()
        self._thread.join(10)
        self.tick()
