"""What the history stores and what reading it gives back, as plain values.

The write side is a handful of operations ("ops"), each one small fact about a live call,
sent as it happens; the store applies them in order. Dicts inside ops are opaque to the
store: it keeps them as JSON and hands them back as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# write side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallStarted:
    call_id: str
    started_at: float  # epoch seconds
    backend: str
    model: str
    settings: dict[str, Any]
    owner: str | None = None  # who made it, on a hosted demo


@dataclass(frozen=True)
class TurnChanged:
    """Re-sent whenever the turn changes; the latest wins. ``position`` is the turn's place
    in the conversation, which can change as the server orders items."""

    call_id: str
    item_id: str
    position: int
    turn: dict[str, Any]


@dataclass(frozen=True)
class EventLogged:
    call_id: str
    seq: int  # unique per call: a repeat is ignored
    at: float  # epoch seconds
    direction: str  # "sent" | "received"
    event: dict[str, Any]


@dataclass(frozen=True)
class FiguresChanged:
    call_id: str
    figures: dict[str, Any]


@dataclass(frozen=True)
class CallEnded:
    call_id: str
    ended_at: float  # epoch seconds
    status: str
    problem: str | None


@dataclass(frozen=True)
class SettingsChanged:
    call_id: str
    settings: dict[str, Any]


Op = CallStarted | TurnChanged | EventLogged | FiguresChanged | CallEnded | SettingsChanged

# read side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallSummary:
    call_id: str
    started_at: float
    ended_at: float | None  # None while the call is live (or if the app died during it)
    backend: str
    model: str
    duration_s: float | None
    turns: int | None
    v2v_p50_ms: float | None
    cost_usd: float | None
    has_audio: bool
    status: str | None
    owner: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    at: float
    direction: str
    event: dict[str, Any]


@dataclass(frozen=True)
class StoredCall:
    summary: CallSummary
    settings: dict[str, Any]
    figures: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)  # by position
    events: list[StoredEvent] = field(default_factory=list)  # by seq
    problem: str | None = None
