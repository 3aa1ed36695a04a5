"""Which session is in force: the last one the server reported (``session.created`` or
``session.updated``), for the page and for barge-in (``interrupt_response``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voicelab.observers.stream import Direction


class SessionState:
    def __init__(self) -> None:
        self.session: dict[str, Any] | None = None

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        if direction == "received" and event.get("type") in ("session.created", "session.updated"):
            session = event.get("session")
            self.session = session if isinstance(session, dict) else None

    @property
    def interrupts_response(self) -> bool:
        """Does the user's speech cut the model off in the session in force?"""
        try:
            turn = self.session["audio"]["input"]["turn_detection"]  # type: ignore[index]
            return bool(turn.get("interrupt_response", True))
        except (TypeError, KeyError, AttributeError):
            return True  # unknown: stopping the model is the safe side
