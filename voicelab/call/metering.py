"""What is measured of one call as it happens: every frame's level each way (the uplink's
ring is also the clock the server's audio times map onto), the VAD timeline, latency per
turn, usage and cost, what is happening right now, and when each item appeared.

The observers among these run on the call's event stream; the two rings are taps on the
call's tracks. The page reads them under the stream's lock, except the rings, which are
copied without one (``media.level_ring``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from voicelab.call.snapshot import Meters
from voicelab.media.level_ring import AUDIBLE_DBFS, LevelRing
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.activity import Activity, ActivityTracker
from voicelab.observers.item_times import ItemTimes
from voicelab.observers.latency import LatencyMeter
from voicelab.observers.stream import Observer
from voicelab.observers.timeline import Timeline
from voicelab.observers.usage import UsageMeter
from voicelab.pricing import PriceTable
from voicelab.protocol.local_vad import threshold_level


class CallMeters:
    def __init__(self, backend: str, model: str | None, table: PriceTable) -> None:
        self.backend = backend
        self.uplink = LevelRing()  # what went to the model
        self.output = LevelRing()  # what went to the browser
        self.timeline = Timeline(self.uplink.time_of_ms)
        self.latency = LatencyMeter(self.uplink, self.output)
        self.usage = UsageMeter(backend, model, table)
        self.activity = ActivityTracker()
        self.item_times = ItemTimes()

    def observers(self) -> list[Observer]:
        return [self.timeline, self.latency, self.usage, self.activity, self.item_times]

    def attach(self, uplink: FrameRelayTrack, output: FrameRelayTrack) -> None:
        uplink.add_tap(self.uplink)
        output.add_tap(self.output)

    def detach(self, output: FrameRelayTrack) -> None:
        """The output track outlives the call (the uplink's goes with it)."""
        output.remove_tap(self.output)

    def answer_audio(self, loud: bool, lock: threading.Lock) -> None:
        """A frame of the model's voice from the upstream: the latency meter wants the
        first one with sound of each answer, so the lock is taken once per answer."""
        if loud and self.latency.awaiting_audio:
            with lock:
                self.latency.audio_in(time.monotonic(), loud)

    def model_audible(self, within_s: float = 0.3) -> bool:
        """Has the model's voice gone to the browser in the last ``within_s``?"""
        levels = self.output.recent(within_s)
        return bool(len(levels.dbfs)) and float(levels.dbfs.max()) >= AUDIBLE_DBFS

    def now(self) -> dict[str, Any]:
        """The ``Snapshot`` fields these answer (under the stream's lock)."""
        activity: Activity = self.activity.now(self.model_audible())
        return {
            "activity": activity,
            "latency": self.latency.turns(),
            "usage": self.usage.totals(),
            "responses": self.usage.responses(),
            "item_times": self.item_times.times(),
        }

    def over_cap(self, cap_usd: float | None) -> float | None:
        """The call's estimated spend when it is over ``cap_usd``."""
        spent = self.usage.totals().cost_usd
        return spent if cap_usd is not None and spent is not None and spent > cap_usd else None

    def meters(
        self, seconds: float, session: dict[str, Any] | None, lock: threading.Lock
    ) -> Meters:
        """The levels and the timeline of the last ``seconds``, for the page."""
        with lock:
            spans, marks = self.timeline.spans(), self.timeline.marks()
        now = time.monotonic()
        return Meters(
            now=now,
            uplink=self.uplink.recent(seconds, now),
            output=self.output.recent(seconds, now),
            spans=tuple(s for s in spans if s.end is None or s.end >= now - seconds),
            marks=tuple(m for m in marks if m.at >= now - seconds),
            threshold_dbfs=threshold_level(self.backend, session),
        )
