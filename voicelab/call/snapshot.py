"""What the page reads of a call: immutable values, so a fragment can render one without a
lock and without ever touching protocol state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicelab.media.relay_track import DelayStats
from voicelab.observers.live_settings import LiveStatus
from voicelab.observers.transcript import Turn

IDLE, CONNECTING, CONNECTED, ERROR = "idle", "connecting", "connected", "error"


@dataclass(frozen=True)
class Snapshot:
    status: str = IDLE
    ice_state: str = "new"
    call_id: str | None = None
    turns: tuple[Turn, ...] = ()
    errors: tuple[str, ...] = ()
    problem: str | None = None
    session: dict[str, Any] | None = None
    connect_ms: float | None = None
    mic_frames: int = 0
    live: LiveStatus = field(default_factory=LiveStatus)


@dataclass(frozen=True)
class DelayFigures:
    """The bridge's own added delay per direction, at its queues."""

    uplink: DelayStats
    downlink: DelayStats | None
