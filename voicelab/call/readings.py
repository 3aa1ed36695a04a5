"""What the page, the host's ledger and the diagnostics read of a visitor's call: the
snapshot, meters, delays and events of the call now (or of the one that just ended), its
progress for the ledger, and the upstream leg's route. ``Bridge`` has these; the state they
read is the bridge's."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

from voicelab.call.call_thread import THREAD_PREFIX
from voicelab.call.intents import Running
from voicelab.call.limits import Progress
from voicelab.call.recovery import Recoveries
from voicelab.call.snapshot import CONNECTED, CONNECTING, DelayFigures, Meters, Snapshot
from voicelab.call.upstream_call import UpstreamCall
from voicelab.media.ice_route import IceRoute, ice_route, measured_route
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.event_log import Logged


class Readings:
    _lock: threading.Lock
    _running: Running | None
    _last_call: UpstreamCall | None
    _next: Running | None
    _status: str
    _problem: str | None
    _mic_frames: int
    _last: Snapshot
    _output: FrameRelayTrack | None
    _recoveries: Recoveries

    @property
    def active(self) -> bool:
        return self._running is not None

    def progress(self) -> Progress:
        """For the host's ledger, every few seconds from its own thread: the call now, or
        the one that just ended (its last spend counts too)."""
        with self._lock:
            going = self._running is not None or self._status == CONNECTING  # or retrying
            call = self._current()
        if call is None:
            return Progress(going)
        return Progress(going, call.call_id, call.spent_usd())

    def snapshot(self) -> Snapshot:
        with self._lock:
            running = self._running
            status, problem = self._status, self._problem
            renewing = self._next is not None
        recovery = self._recoveries.current if status != CONNECTED else None
        if running is None:
            return replace(
                self._last,
                status=status,
                problem=problem,
                mic_frames=self._mic_frames,
                recovery=recovery,
            )
        snap = running.call.snapshot(status, problem, self._mic_frames)
        return replace(snap, recovery=recovery, renewing=renewing)

    def meters(self, seconds: float = 30.0) -> Meters | None:
        """Levels and the VAD timeline of the last ``seconds`` of the current call (or of
        the one that just ended)."""
        call = self._current()
        return call.meters(seconds) if call is not None else None

    def delays(self) -> DelayFigures | None:
        running = self._running
        if running is None or running.call.relay is None:
            return None
        output = self._output
        relay = running.call.relay
        return DelayFigures(relay.delays, output.delays if output else None, relay.overflowed)

    def events(self, kind: str | None = None) -> tuple[Logged, ...]:
        """The protocol events of the current call (or of the one that just ended)."""
        call = self._current()
        return call.log.entries(kind) if call is not None else ()

    def upstream_route(self, timeout_s: float = 2.0) -> IceRoute | None:
        """Which way the upstream call's media goes, and how well (WebRTC only): read on
        the call's loop, never changed."""
        running = self._running
        pc = getattr(running.call.transport, "pc", None) if running is not None else None
        if pc is None:
            return None
        measuring = asyncio.run_coroutine_threadsafe(measured_route(pc), running.thread.loop)
        try:
            return measuring.result(timeout_s)
        except Exception:  # a busy or closing loop: the route without its figures
            measuring.cancel()
            return ice_route(pc)

    def _current(self) -> UpstreamCall | None:
        """The call now, or the one that just ended."""
        running = self._running
        return running.call if running is not None else self._last_call

    def threads(self) -> list[threading.Thread]:
        """Threads this bridge has running (tests check none outlive a call)."""
        return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
