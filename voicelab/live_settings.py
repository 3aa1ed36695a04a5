"""Settings changed during a call: what the user asked for, what was sent, and what the
server confirmed. Pure logic, no I/O: the bridge feeds it events and sends what it returns.

A change goes out as one ``session.update`` holding only what changed. Each setting is then
"pending" until ``session.updated`` confirms it ("applied"), or "refused" with the server's
reason (its ``error`` names our ``event_id``), after which the effective value is the last
confirmed one. Settings no update can change (the model; the voice once the model has
spoken) are "needs reconnect" and are never sent. The speed, which OpenAI changes only
between responses, stays pending while one runs and goes when it is done.

At most one update is in flight. ``session.updated`` does not name the update it answers,
so with several in flight one lost or reordered answer would credit the wrong change; with
one, the answer is unambiguous. What changes meanwhile waits, merged into one next update
that goes when the answer comes (the server answers every ``session.update``, with
``session.updated`` or an ``error``). The same holds before the call is up: settings
changed while connecting go out once ``session.created`` has arrived.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from voicelab.events import error_text
from voicelab.session_config import (
    BETWEEN_RESPONSES,
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


@dataclass(frozen=True)
class _Update:
    event_id: str
    changes: dict[str, Any]  # the settings this update changes, with their new values


class LiveSettings:
    def __init__(self, started_with: SessionConfig, backend: Backend) -> None:
        self.backend = backend
        self.applied = started_with  # confirmed by the server
        self._requested = started_with  # applied plus the update in flight
        self._in_flight: _Update | None = None
        self._waiting: SessionConfig | None = None  # asked for while one was in flight
        self._created = False  # the server has sent session.created
        self._responding = False  # between response.created and response.done
        self._fields: dict[str, str] = {}
        self._refusal: str | None = None
        self._refused_fields: tuple[str, ...] = ()
        # The refused values, until the page has put those controls back: a change already
        # on its way (a debounce timer holds the sidebar as it was) must not resend them.
        self._refused_values: dict[str, Any] = {}
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
        """The ``session.update`` event to send now for ``new``, or None: nothing can go,
        or it must wait (then ``on_event`` returns it when its turn comes)."""
        if self._in_flight is not None or not self._created:
            new = self._waiting = self._without_refused(new)
            for name in changed_fields(self._requested, new):
                if name not in self._frozen():
                    self._fields[name] = PENDING
            self._mark_reconnect(new)
            return None
        self._waiting = None
        return self._update_for(new)

    def _frozen(self) -> set[str]:
        return set(RECONNECT_FIELDS) | (set(LOCKED_AFTER_AUDIO) if self.audio_heard else set())

    def _mark_reconnect(self, new: SessionConfig) -> dict[str, Any]:
        """Marks the frozen settings ``new`` changes; returns their values in force."""
        changed = changed_fields(self._requested, new)
        for name in self._frozen():
            if name in changed:
                self._fields[name] = RECONNECT
            elif self._fields.get(name) == RECONNECT and getattr(new, name) == getattr(
                self.applied, name
            ):
                del self._fields[name]  # changed back: nothing to reconnect for
        return {name: getattr(self._requested, name) for name in changed if name in self._frozen()}

    def _without_refused(self, new: SessionConfig) -> SessionConfig:
        return new.replace(
            **{
                name: getattr(self.applied, name)
                for name, value in self._refused_values.items()
                if getattr(new, name) == value
            }
        )

    def _update_for(self, new: SessionConfig) -> dict[str, Any] | None:
        new = self._without_refused(new)
        later = {
            name: getattr(self._requested, name)
            for name in BETWEEN_RESPONSES
            if self._responding and getattr(new, name) != getattr(self._requested, name)
        }
        target = new.replace(**self._mark_reconnect(new), **later)
        names = changed_fields(self._requested, target)
        for name, state in list(self._fields.items()):
            if state == PENDING and name not in names:
                del self._fields[name]  # waited, then changed back: nothing to send
        if later:
            self._waiting = new  # the rest goes now; these once the response is done
            for name in later:
                self._fields[name] = PENDING
        session = session_update(self._requested, target, self.backend)
        if not session:
            # Changed, but not in anything the server holds (blank instructions, eagerness
            # under server VAD, a temperature this backend never gets): nothing to wait for.
            self._requested = self.applied = target
            for name in names:
                self._fields.pop(name, None)
            return None
        update = _Update(f"voicelab_{next(_ids)}", {n: getattr(target, n) for n in names})
        self._in_flight, self._requested = update, target
        for name in names:
            self._fields[name] = PENDING
        self.updates_sent += 1
        return {"type": "session.update", "event_id": update.event_id, "session": session}

    def on_event(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Follows the server; returns the next ``session.update`` to send, if one waits."""
        kind = event.get("type")
        update = self._in_flight
        if kind in _AUDIO_EVENTS:
            self.audio_heard = True
        elif kind == "session.created":
            self._created = True
        elif kind in ("response.created", "response.done"):
            self._responding = kind == "response.created"
        elif kind == "session.updated" and update is not None:
            self._in_flight = None
            self.applied = self.applied.replace(**update.changes)
            for name in update.changes:
                if self._fields.get(name) == PENDING:
                    self._fields[name] = APPLIED
        elif kind == "error" and update is not None:
            error = event.get("error")
            if not isinstance(error, dict) or error.get("event_id") != update.event_id:
                return None
            self._in_flight = None
            refused = tuple(update.changes)
            if self._responding and set(refused) <= BETWEEN_RESPONSES:
                # A response began before the server took the update (server VAD can start
                # one at any time): not a no, a "not now". It goes again when that is done.
                self._waiting = self._waiting or self._requested
                self._requested = self.applied
            else:
                for name in refused:
                    self._fields[name] = REFUSED
                self._refusal = error_text(event)
                self._refused_fields = refused
                self._refused_values = dict(update.changes)
                self._requested = self.applied  # what is in force is what was confirmed
        else:
            return None
        if self._in_flight is None and self._created and self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            return self._update_for(waiting)
        return None

    def acknowledge_refusal(self, fields: tuple[str, ...]) -> None:
        """The page has shown the refusal of ``fields`` and put those controls back; a
        newer refusal stays until it has been shown too."""
        if self._refused_fields == fields:
            self._refused_fields = ()
            self._refused_values = {}
