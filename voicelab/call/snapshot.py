"""What the page reads of a call: immutable values, so a fragment can render one without a
lock and without ever touching protocol state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicelab.call.recovery import Recovery
from voicelab.media.level_ring import Levels
from voicelab.media.relay_track import DelayStats
from voicelab.observers.activity import Activity
from voicelab.observers.latency import TurnLatency
from voicelab.observers.live_settings import LiveStatus
from voicelab.observers.timeline import Mark, Span
from voicelab.observers.transcript import Turn
from voicelab.observers.usage import ResponseUsage, UsageTotals

IDLE, CONNECTING, CONNECTED, ERROR = "idle", "connecting", "connected", "error"


@dataclass(frozen=True)
class Snapshot:
    status: str = IDLE
    backend: str | None = None  # the current (or last) call's
    ice_state: str = "new"
    call_id: str | None = None
    turns: tuple[Turn, ...] = ()
    errors: tuple[str, ...] = ()
    problem: str | None = None
    session: dict[str, Any] | None = None
    connect_ms: float | None = None
    mic_frames: int = 0
    live: LiveStatus = field(default_factory=LiveStatus)
    activity: Activity = "listening"
    latency: tuple[TurnLatency, ...] = ()
    usage: UsageTotals = field(default_factory=UsageTotals)
    responses: tuple[ResponseUsage, ...] = ()
    item_times: dict[str, float] = field(default_factory=dict)  # item id -> monotonic time
    recovery: Recovery | None = None  # the attempt under way to carry a lost call
    expires_at: float | None = None  # when the call's session ends (wall time)
    renewing: bool = False  # the next call of a renewal is open, waiting for a pause

    def latency_of_reply(self, item_id: str) -> TurnLatency | None:
        """The turn whose answer is ``item_id``."""
        return next((t for t in self.latency if t.reply_item_id == item_id), None)

    def usage_of_item(self, item_id: str) -> ResponseUsage | None:
        return next((r for r in self.responses if item_id in r.item_ids), None)


@dataclass(frozen=True)
class Meters:
    """The last seconds of a call's audio levels and what the server made of them, on the
    bridge's clock (``time.monotonic()``)."""

    now: float
    uplink: Levels  # what went to the model: the user
    output: Levels  # what went to the browser: the model
    spans: tuple[Span, ...]
    marks: tuple[Mark, ...]
    threshold_dbfs: float | None  # where the local VAD's threshold sits, for clear speech


@dataclass(frozen=True)
class DelayFigures:
    """The bridge's own added delay per direction, at its queues."""

    uplink: DelayStats
    downlink: DelayStats | None
    uplink_overflowed: int = 0  # microphone frames the uplink's bound pushed out unsent
