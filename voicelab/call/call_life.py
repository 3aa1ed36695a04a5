"""An upstream call's life on its loop: connect, watch, hang up. ``UpstreamCall`` has
this; what it connects, watches and reacts to is there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from voicelab.call import problems
from voicelab.call.call_thread import first
from voicelab.call.snapshot import CONNECTED, ERROR
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.protocol import client_events
from voicelab.upstream.transport import SetupError, Transport

if TYPE_CHECKING:
    from voicelab.call.metering import CallMeters
    from voicelab.call.recorder import CallRecorder
    from voicelab.call.upstream_call import CallOptions, Report
    from voicelab.call.watchdog import Watchdog
    from voicelab.observers.responses import ResponseState
    from voicelab.observers.stream import EventStream
    from voicelab.observers.transcript import Transcript
    from voicelab.protocol.client_events import ClientEvent
    from voicelab.upstream.transport import Connector, Target

log = logging.getLogger(__name__)

#: How late a microphone frame may be before the uplink sends silence in its place. A frame
#: merely late is jitter for the far side's jitter buffer; silence in its place is a gap cut
#: into the user's speech (under CPU load, 40 ms of slack filled ~20% of frames and the VAD
#: found turns 400 ms longer). 90 ms stays under the relay's 100 ms clock skip.
UPLINK_GAP_S = 0.09


class CallLife:
    """The attributes are ``UpstreamCall``'s."""

    target: Target
    session: dict[str, Any]
    options: CallOptions
    connector: Connector
    report: Report
    relay: FrameRelayTrack | None
    output: FrameRelayTrack
    measures: CallMeters
    recorder: CallRecorder | None
    transport: Transport | None
    setup_error: SetupError | None
    call_id: str | None
    ice_state: str
    watchdog: Watchdog
    responses: ResponseState
    stream: EventStream
    transcript: Transcript
    on_tick: Callable[[], None]
    _created: asyncio.Event
    _progress_at: float

    def _send_quietly(self, event: ClientEvent) -> None:
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, watch, hang up: returns when the call is over."""
        self.relay = FrameRelayTrack(
            asyncio.get_running_loop(),
            max_frames=self.options.mic_queue_frames,
            gap_s=UPLINK_GAP_S,
            packets=False,  # frames, for any transport; the WebRTC one asks for packets
        )
        taps: list[CallMeters | CallRecorder] = [self.measures]
        if self.recorder is not None:
            taps.append(self.recorder)
        for tapping in taps:
            tapping.attach(self.relay, self.output)
        self.transport = self.connector(self.target, self.session, self.relay, self)
        try:
            await self._connect(self.transport, stop)
            if not stop.is_set():
                await self._watch(stop)
        except SetupError as exc:
            self.setup_error = exc
            self.report(ERROR, str(exc))
        finally:
            for tapping in taps:
                tapping.detach(self.output)
            await self.transport.close()

    async def _connect(self, transport: Transport, stop: asyncio.Event) -> None:
        connecting = asyncio.ensure_future(transport.connect())
        if not await first(connecting, stop):
            # Stopped mid-setup: let the setup finish briefly so the call can be hung up.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(connecting), 5.0)
            if not connecting.done():
                connecting.cancel()
                return
        self.call_id = connecting.result()  # raises SetupError
        if stop.is_set():
            return
        if self._created.is_set():  # session.created came before the setup returned
            self.report(CONNECTED, None)
        created = asyncio.ensure_future(self._created.wait())
        timeout = self.options.session_created_timeout_s
        up = await first(created, stop, timeout)
        created.cancel()
        if not up and not stop.is_set():
            if self.ice_state in ("new", "checking", "failed"):
                self.report(ERROR, problems.stuck(self.ice_state))
            else:
                self.report(ERROR, problems.never_created(timeout))

    def _stop_stalled_answer(self, now: float) -> None:
        """An answer that never finishes must not hold the conversation: it is cancelled,
        once per stall, and said so."""
        stall_s = self.options.answer_stall_s
        if not self.responses.running or now - self._progress_at < stall_s:
            return
        self._progress_at = now
        log.warning("an answer stalled for %.0f s: cancelling it", stall_s)
        self._send_quietly(client_events.response_cancel(best_effort=True))
        with self.stream.lock:
            self.transcript.note_error(problems.answer_stalled(stall_s))

    async def _watch(self, stop: asyncio.Event) -> None:
        """Until stopped: end the call if the browser leg or the upstream dies."""
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
            if stop.is_set():
                return
            self.on_tick()
            self._stop_stalled_answer(time.monotonic())
            problem = self.watchdog.problem(self.ice_state, time.monotonic())
            if problem is not None:
                self.report(ERROR, problem)
                return
