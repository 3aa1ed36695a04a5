"""The hour cap: a Realtime call lasts at most an hour (OpenAI's limit; the local server's is
set with ``--max-call-seconds``), then the server ends it. Before that the bridge opens the
next upstream call ahead of time, lets it stand by (it hears silence and says nothing), and
switches over in a pause between turns, carrying the conversation, so the user hears no gap
longer than a turn's own pause. The rules (pure) and the bridge's part of it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicelab.call.carry_over import CarryOver, carried
from voicelab.call.snapshot import CONNECTED, ERROR, IDLE

if TYPE_CHECKING:
    from voicelab.call.intents import Running
    from voicelab.call.upstream_call import UpstreamCall
    from voicelab.protocol.session import SessionConfig

log = logging.getLogger(__name__)

#: OpenAI's maximum call duration, for a session that does not say when it expires.
DEFAULT_MAX_CALL_S = 60 * 60.0


@dataclass(frozen=True)
class RenewalPolicy:
    #: Open the next call this long before the cap (no earlier than halfway through a
    #: short session), so its setup, and a second try, fit before it.
    lead_s: float = 90.0
    #: The page counts down the cap's last minutes.
    countdown_s: float = 300.0
    #: No pause came: switch anyway this long before the cap, as the server would cut the
    #: answer a moment later in any case.
    force_s: float = 3.0
    #: A next call that could not be opened is tried again after this long.
    retry_s: float = 10.0
    #: Off: the server's limit ends the call as a lost one, and the recovery carries it on.
    enabled: bool = True

    def opens_at(self, created_at: float, expires_at: float) -> float:
        return max(expires_at - self.lead_s, created_at + (expires_at - created_at) / 2)

    def must_switch(self, expires_at: float, now: float) -> bool:
        return now >= expires_at - self.force_s

    def counting_down(self, expires_at: float | None, now: float) -> float | None:
        """Seconds left to the cap, once in its last ``countdown_s``; None before."""
        if expires_at is None:
            return None
        left = expires_at - now
        return max(0.0, left) if left <= self.countdown_s else None


def expires_at(session: Mapping[str, Any] | None, created_at: float) -> float:
    """When a call's session ends (wall time): the server's ``expires_at`` when it gives a
    plausible one, else the hour after it was created."""
    default = created_at + DEFAULT_MAX_CALL_S
    value = session.get("expires_at") if isinstance(session, Mapping) else None
    plausible = isinstance(value, (int, float)) and not isinstance(value, bool)
    if plausible and created_at < value <= default:
        return float(value)
    return default


class Renewals:
    """The bridge's side of a renewal (``Bridge`` has this): the next call opened, stood
    by, switched to. All of it runs on the current call's loop, from its ``on_tick``."""

    renewal: RenewalPolicy
    history_id: str | None
    _lock: threading.Lock
    _running: Running | None
    _config: SessionConfig | None
    _next: Running | None  # the next call, standing by
    _next_up: bool  # … and up
    _next_tried_at: float
    #: ``Bridge._open(target, config, history, standby=False)``: a new call, not started.
    _open: Callable[..., Running]

    def _renewal_tick(self, running: Running) -> None:
        """When the cap nears, open the next call; once it is up, switch in the first pause
        (or at the last moment)."""
        call, now = running.call, time.time()
        if not self.renewal.enabled or call.expires_at is None or call.up_at is None:
            return
        if call.standby:
            return
        with self._lock:
            if self._running is not running:
                return
            waiting, up = self._next, self._next_up
            opening = (
                waiting is None
                and now >= self.renewal.opens_at(call.up_at, call.expires_at)
                and now - self._next_tried_at >= self.renewal.retry_s
            )
            if opening:
                self._next_tried_at = now
        if opening:
            self._open_next(running)
        elif waiting is not None and up and self._may_switch(call, now):
            self._switch(running, waiting)

    def _may_switch(self, call: UpstreamCall, now: float) -> bool:
        assert call.expires_at is not None
        return call.between_turns() or self.renewal.must_switch(call.expires_at, now)

    def _open_next(self, running: Running) -> None:
        call = running.call
        waiting = self._open(call.target, self._config or call.config, (), standby=True)
        with self._lock:
            if self._running is not running or self._next is not None:
                return  # ended or replaced meanwhile: the unstarted call is simply dropped
            self._next, self._next_up = waiting, False
        log.info("the session ends soon: the next call is opening")
        waiting.thread.start()

    def _next_reported(self, waiting: Running, status: str, problem: str | None) -> None:
        with self._lock:
            if self._next is not waiting or status not in (CONNECTED, ERROR):
                return
            if status == CONNECTED:
                self._next_up = True
                return
            self._next, self._next_up = None, False
        log.warning("the next call of a renewal could not be opened: %s", problem)
        waiting.call.finish(ERROR, problem)
        waiting.thread.request_stop()

    def _switch(self, old: Running, new: Running) -> None:
        """The standing-by call becomes the call, with the conversation; the old one hangs
        up."""
        with old.call.stream.lock:
            history = carried(old.call.transcript.turns())
        new.call.take_over(CarryOver.of(history, new.number))
        with self._lock:
            if self._running is not old or self._next is not new:
                return
            self._running, self._next, self._next_up = new, None, False
            self.history_id = new.history_id
        new.thread.call_soon(new.call.activate, self._config or new.call.config)
        old.call.finish(IDLE, None)
        old.thread.request_stop()
        log.info("renewed the session: %s -> %s", old.call.call_id, new.call.call_id)

    def _drop_next(self) -> None:
        """The call ends or is replaced: its next call, if one stands by, goes too."""
        with self._lock:
            waiting, self._next, self._next_up = self._next, None, False
        if waiting is not None:
            waiting.call.finish(IDLE, None)
            waiting.thread.request_stop()
