"""Settings changed during a call: what the user asked for, what was sent, and what the
server confirmed. Pure logic, no I/O: the bridge feeds it events and sends what it returns.

A change goes out as one ``session.update`` holding only what changed. Each setting is then
"pending" until ``session.updated`` confirms it ("applied"), or "refused" with the server's
reason (its ``error`` names our ``event_id``), after which the effective value is the last
confirmed one. Settings no update can change (the model; the voice once the model has
spoken) are "needs reconnect" and are never sent.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from voicelab.events import error_text
from voicelab.session_config import (
    LOCKED_AFTER_AUDIO,
    RECONNECT_FIELDS,
    Backend,
    SessionConfig,
    changed_fields,
    session_update,
)

PENDING, APPLIED, REFUSED, RECONNECT = "pending", "applied", "refused", "needs reconnect"
_ids = itertools.count(1)
#: Events that show the model has produced audio in this call (the voice is then locked).
_AUDIO_EVENTS = frozenset({"output_audio_buffer.started", "response.output_audio.delta"})


@dataclass(frozen=True)
class LiveStatus:
    """For the page: each changed setting's state, the last refusal, the confirmed config."""

    fields: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None
    refused_fields: tuple[str, ...] = ()
    applied: SessionConfig | None = None
    updates_sent: int = 0


@dataclass
class _Update:
    event_id: str
    target: SessionConfig
    fields: tuple[str, ...]


class LiveSettings:
    def __init__(self, started_with: SessionConfig, backend: Backend) -> None:
        self.backend = backend
        self.applied = started_with  # confirmed by the server
        self._requested = started_with  # applied plus everything still pending
        self._pending: deque[_Update] = deque(maxlen=64)
        self._fields: dict[str, str] = {}
        self._refusal: str | None = None
        self._refused_fields: tuple[str, ...] = ()
        self.audio_heard = False
        self.updates_sent = 0

    def status(self) -> LiveStatus:
        return LiveStatus(
            dict(self._fields),
            self._refusal,
            self._refused_fields,
            self.applied,
            self.updates_sent,
        )

    def want(self, new: SessionConfig) -> dict[str, Any] | None:
        """The ``session.update`` event to send for ``new``, or None if nothing can go."""
        frozen = set(RECONNECT_FIELDS) | (set(LOCKED_AFTER_AUDIO) if self.audio_heard else set())
        changed = changed_fields(self._requested, new)
        held = {name: getattr(self._requested, name) for name in changed if name in frozen}
        for name in frozen:
            if name in changed:
                self._fields[name] = RECONNECT
            elif self._fields.get(name) == RECONNECT and getattr(new, name) == getattr(
                self.applied, name
            ):
                del self._fields[name]  # changed back: nothing to reconnect for
        target = new.replace(**held)
        session = session_update(self._requested, target, self.backend)
        if not session:
            return None
        update = _Update(f"voicelab_{next(_ids)}", target, changed_fields(self._requested, target))
        self._pending.append(update)
        self._requested = target
        for name in update.fields:
            self._fields[name] = PENDING
        self.updates_sent += 1
        return {"type": "session.update", "event_id": update.event_id, "session": session}

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in _AUDIO_EVENTS:
            self.audio_heard = True
        elif kind == "session.updated" and self._pending:
            update = self._pending.popleft()
            self.applied = update.target
            for name in update.fields:
                if self._fields.get(name) == PENDING:
                    self._fields[name] = APPLIED
        elif kind == "error":
            error = event.get("error")
            event_id = error.get("event_id") if isinstance(error, dict) else None
            refused = next((u for u in self._pending if u.event_id == event_id), None)
            if refused is None:
                return
            self._pending.remove(refused)
            for name in refused.fields:
                self._fields[name] = REFUSED
            self._refusal = error_text(event)
            self._refused_fields = refused.fields
            # What is in force is what was last confirmed, plus what is still pending.
            self._requested = self._pending[-1].target if self._pending else self.applied

    def acknowledge_refusal(self) -> None:
        """The page has shown the refusal and put the controls back."""
        self._refused_fields = ()
