"""Settings changed during a call: what the user asked for, what was sent, and what the
server confirmed. Pure logic, no I/O: the call feeds it the events and sends the updates it
hands out (``want``, ``take_due``).

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicelab.observers.responses import ResponseState
from voicelab.observers.stream import Direction
from voicelab.protocol import client_events
from voicelab.protocol.backends import Backend
from voicelab.protocol.client_events import SessionUpdate
from voicelab.protocol.server_events import answered_event_id, error_text
from voicelab.protocol.session import (
    BETWEEN_RESPONSES,
    LOCKED_AFTER_AUDIO,
    RECONNECT_FIELDS,
    SessionConfig,
    changed_fields,
    session_changes,
)

PENDING, APPLIED, REFUSED, RECONNECT = "pending", "applied", "refused", "needs reconnect"
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
    def __init__(
        self, started_with: SessionConfig, backend: Backend, responses: ResponseState
    ) -> None:
        self.backend = backend
        self.responses = responses  # observed by the call before this
        self.applied = started_with  # confirmed by the server
        self._requested = started_with  # applied plus the update in flight
        self._in_flight: _Update | None = None
        self._waiting: SessionConfig | None = None  # asked for while one was in flight
        self._created = False  # the server has sent session.created
        self._due: SessionUpdate | None = None  # an update whose turn has come
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

    def want(self, new: SessionConfig) -> SessionUpdate | None:
        """The ``session.update`` event to send now for ``new``, or None: nothing can go,
        or it must wait (then ``take_due`` hands it out when its turn comes)."""
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

    def _update_for(self, new: SessionConfig) -> SessionUpdate | None:
        new = self._without_refused(new)
        later = {
            name: getattr(self._requested, name)
            for name in BETWEEN_RESPONSES
            if self.responses.running and getattr(new, name) != getattr(self._requested, name)
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
        session = session_changes(self._requested, target, self.backend)
        if not session:
            # Changed, but not in anything the server holds (blank instructions, eagerness
            # under server VAD, a temperature this backend never gets): nothing to wait for.
            self._requested = self.applied = target
            for name in names:
                self._fields.pop(name, None)
            return None
        event = client_events.session_update(session)
        update = _Update(event["event_id"], {n: getattr(target, n) for n in names})
        self._in_flight, self._requested = update, target
        for name in names:
            self._fields[name] = PENDING
        self.updates_sent += 1
        return event

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        """Follows the server; an update waiting for this event becomes due."""
        if direction != "received":
            return
        kind = event.get("type")
        update = self._in_flight
        if kind in _AUDIO_EVENTS:
            self.audio_heard = True
        elif kind == "session.created":
            self._created = True
        elif kind == "session.updated" and update is not None:
            self._in_flight = None
            self.applied = self.applied.replace(**update.changes)
            for name in update.changes:
                if self._fields.get(name) == PENDING:
                    self._fields[name] = APPLIED
        elif kind == "error" and update is not None:
            if answered_event_id(event) != update.event_id:
                return
            self._refused(update, error_text(event))
        elif kind not in ("response.created", "response.done"):  # the speed waits for done
            return
        self._next()

    def not_sent(self, event_id: str, reason: str) -> None:
        """The update ``event_id`` could not go out: refused for ``reason``, as the server
        would have, so it is never left in flight with every later change behind it."""
        update = self._in_flight
        if update is not None and update.event_id == event_id:
            self._refused(update, reason)
            self._next()

    def take_due(self) -> SessionUpdate | None:
        """The update to send now, if one became due (after ``observe``)."""
        due, self._due = self._due, None
        return due

    def _refused(self, update: _Update, reason: str) -> None:
        self._in_flight = None
        refused = tuple(update.changes)
        if self.responses.running and set(refused) <= BETWEEN_RESPONSES:
            # A response began before the server took the update (server VAD can start one
            # at any time): not a no, a "not now". It goes again when that is done.
            self._waiting = self._waiting or self._requested
            self._requested = self.applied
            return
        for name in refused:
            self._fields[name] = REFUSED
        self._refusal = reason
        self._refused_fields = refused
        self._refused_values = dict(update.changes)
        self._requested = self.applied  # what is in force is what was confirmed

    def _next(self) -> None:
        if self._in_flight is None and self._created and self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            self._due = self._update_for(waiting)

    def acknowledge_refusal(self, fields: tuple[str, ...]) -> None:
        """The page has shown the refusal of ``fields`` and put those controls back; a
        newer refusal stays until it has been shown too."""
        if self._refused_fields == fields:
            self._refused_fields = ()
            self._refused_values = {}
