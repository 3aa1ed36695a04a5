"""One visitor's call, as the page sees it: intents in, immutable snapshots out.

The browser leg (streamlit-webrtc's audio sink in, a relay track out) is joined to an
upstream call that runs on its own loop in its own thread (``UpstreamCall`` on a
``CallThread``). Streamlit's loop only ever calls ``on_browser_frame``, which hands the frame
across and returns; the page only ever sends intents and reads ``snapshot()``. Nothing of a
call outlives ``stop``: the upstream is hung up, the peer closed, the loop closed, the thread
joined.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TypeVar

import av

from voicelab.call import problems
from voicelab.call.call_thread import THREAD_PREFIX, CallThread
from voicelab.call.carry_over import CarryOver, carried, carried_to_model
from voicelab.call.intents import Intents, Running
from voicelab.call.limits import CallLimits
from voicelab.call.readings import Readings
from voicelab.call.recovery import Recoveries, Recovery, RecoveryPolicy
from voicelab.call.renewal import RenewalPolicy, Renewals
from voicelab.call.snapshot import (
    CONNECTED,
    CONNECTING,
    ERROR,
    IDLE,
    Snapshot,
)
from voicelab.call.upstream_call import CallOptions, UpstreamCall
from voicelab.history.writer import HistoryWriter
from voicelab.media.frames import FRAME_MS
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.stream import Observer
from voicelab.observers.transcript import Turn
from voicelab.pricing import PriceTable
from voicelab.protocol.session import SessionConfig
from voicelab.upstream import signaling
from voicelab.upstream.transport import Connector, Target
from voicelab.upstream.webrtc import WebRtcConnector

log = logging.getLogger(__name__)
T = TypeVar("T")

_numbers = itertools.count(1)


_bridges: weakref.WeakSet[Bridge] = weakref.WeakSet()


@atexit.register
def _hang_up_everything() -> None:
    """Call threads are daemons: without this, stopping the server would leave upstream
    calls open (and billed) until they time out."""
    for bridge in list(_bridges):
        bridge.stop(5.0)


class Bridge(Intents, Renewals, Readings):
    def __init__(
        self,
        playback_buffer_s: float = 2.0,
        mic_queue_frames: int = 25,
        browser_silence_s: float = 10.0,
        session_created_timeout_s: float = 15.0,
        settings_debounce_s: float = 0.3,
        signaling_timeout_s: float = signaling.DEFAULT_TIMEOUT_S,
        connector: Connector | None = None,
        observers: Callable[[], Iterable[Observer]] = tuple,
        prices: PriceTable | None = None,
        recovery: RecoveryPolicy | None = None,
        renewal: RenewalPolicy | None = None,
        answer_stall_s: float = 30.0,
    ) -> None:
        """``connector`` builds each call's transport (WebRTC unless given); ``observers``
        builds extra observers of each call's events, after the built-in ones; ``prices``
        replaces the shipped price table."""
        self.playback_frames = max(1, int(playback_buffer_s * 1000 / FRAME_MS))
        self.options = CallOptions(
            mic_queue_frames=mic_queue_frames,
            browser_silence_s=browser_silence_s,
            session_created_timeout_s=session_created_timeout_s,
            settings_debounce_s=settings_debounce_s,
            prices=prices,
            answer_stall_s=answer_stall_s,
        )
        self.connector = connector or WebRtcConnector(signaling_timeout_s)
        self.observers = observers
        #: Mute the microphone while the model speaks (for speakers without echo
        #: cancellation: the model must not hear, and answer, itself). Changeable any time.
        self.half_duplex = False
        self._output: FrameRelayTrack | None = None
        self._lock = threading.Lock()
        self._running: Running | None = None
        self._status = IDLE
        self._problem: str | None = None
        self._mic_frames = 0
        self._limits = CallLimits()  # the host's, for the call since the last Start
        self._deadline: tuple[float, str] | None = None
        #: The spend cap per call in US dollars (None: none), read after every response.
        self.spend_cap_usd: float | None = None
        #: Where calls are stored as they happen (None: not stored), and whether with their
        #: audio; both read at each Start.
        self.history: HistoryWriter | None = None
        self.keep_audio = False
        #: Who the stored calls belong to (a hosted demo's visitor; None: nobody in particular).
        self.owner: str | None = None
        #: The history id of the current (or last) call.
        self.history_id: str | None = None
        self._last: Snapshot = Snapshot()  # how the call that ended ended
        #: When the upstream is lost mid-call, a new one is called with the conversation.
        self._recoveries = Recoveries(recovery or RecoveryPolicy())
        self._config: SessionConfig | None = None  # the settings wanted now (the sidebar's)
        self._last_call: UpstreamCall | None = None
        #: Before the hour cap, the next call is opened and stands by for a pause.
        self.renewal = renewal or RenewalPolicy()
        self._next: Running | None = None
        self._next_up = False
        self._next_tried_at = 0.0
        _bridges.add(self)

    # browser leg (called on Streamlit's loop: must never block) --------------------------

    def on_browser_frame(self, frame: av.AudioFrame) -> None:
        """The sink callback: hands the frame to the call's thread and returns."""
        self._mic_frames += 1
        running = self._running
        if running is None:
            return
        if self.half_duplex and self.model_speaking():
            running.call.browser_alive()
            return
        running.call.browser_frame(frame)

    def model_speaking(self, within_s: float = 0.5) -> bool:
        """Has the model's voice gone to the browser in the last ``within_s``? The window
        spans the pauses between words and the echo's way back through speaker and mic."""
        output = self._output
        return output is not None and time.perf_counter() - output.last_sound_at < within_s

    def on_browser_ended(self) -> None:
        """The sink's track ended. After a quick Stop/Start the ``on_ended`` of the earlier
        browser leg can arrive while the new one is live, so the decision waits 0.3 s: a
        leg that really ended sends nothing more. A call that has had no frame yet is left
        alone (its leg may still be starting); the silent-browser watchdog ends it if its
        leg never sends."""
        ended_at = time.monotonic()

        def decide() -> None:
            running = self._running
            last = running.call.last_browser_frame if running is not None else None
            if last is None or last > ended_at:
                log.info("ignored an on_ended: the browser leg of this call is live or new")
                return
            self.stop()

        try:
            asyncio.get_running_loop().call_later(0.3, decide)
        except RuntimeError:  # not on a loop: decide now
            decide()

    def output_track(self) -> FrameRelayTrack:
        """The track that plays the model's voice to the browser (``source_audio_track``);
        a new one once the previous one has ended. Only ``stop`` ends it, and it forgets it
        then, so the track a call was given stays this bridge's for the whole call."""
        track = self._output
        if track is None or track.readyState == "ended":
            track = self._output = FrameRelayTrack(max_frames=self.playback_frames)
        return track

    # intents (called from the script thread) ---------------------------------------------

    def start(
        self,
        target: Target,
        config: SessionConfig,
        history: tuple[Turn, ...] = (),
        limits: CallLimits | None = None,
    ) -> None:
        """Begin a new call (ending any previous one); returns at once. Raises
        ``ConfigError`` for a setting out of range. ``history`` is sent into the new call
        as conversation items as soon as it is up; ``limits`` hold for it and for every
        call that carries it on (a recovery, a renewal)."""
        config.validate()
        self._cancel_recovery()
        self._limits = limits or CallLimits()
        self._deadline = self._limits.deadline(time.monotonic())
        self._start(target, config, history)

    def _start(self, target: Target, config: SessionConfig, history: tuple[Turn, ...]) -> None:
        self._config = config
        running = self._open(target, config, history)
        with self._lock:
            previous, self._running = self._running, running
            self._status = CONNECTING
            self._problem = None
            self._mic_frames = 0
            self.history_id = running.history_id
        self._drop_next()
        if previous is not None:
            previous.call.finish(IDLE, None)
            previous.thread.request_stop()
        self.output_track().clear()
        running.thread.start()

    def _open(
        self,
        target: Target,
        config: SessionConfig,
        history: tuple[Turn, ...],
        standby: bool = False,
    ) -> Running:
        """A new upstream call on its own thread, not started yet."""
        number = next(_numbers)

        def report(status: str, problem: str | None) -> None:
            if self._next is running:
                self._next_reported(running, status, problem)
            else:
                self._reported(running, status, problem)

        call = UpstreamCall(
            target,
            config,
            CarryOver.of(history, number),
            self.output_track(),
            self.connector,
            report,
            self.options,
            self.observers(),
            standby=standby,
        )
        call.spend_cap = lambda: self.spend_cap_usd
        call.limits, call.watchdog.deadline = self._limits, self._deadline
        history_id = None
        if self.history is not None:
            history_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{number}-{secrets.token_hex(3)}"
            call.record(self.history, history_id, self.keep_audio, self.owner)
        thread = CallThread(number, call.run, lambda: report(ERROR, problems.CRASHED))
        running = Running(call, thread, number, history_id)
        call.on_tick = lambda: self._renewal_tick(running)
        return running

    def carried_turns(self) -> tuple[Turn, ...]:
        """The conversation so far, as a new call would carry it over."""
        return carried(self.snapshot().turns)

    def reconnect(self, target: Target, config: SessionConfig) -> int:
        """A new call for settings no update can change (the model, a voice already heard),
        carrying the conversation over so context and transcript survive. Returns the
        number of turns carried into the model's context (the page keeps all of them)."""
        history = self.carried_turns()
        self.start(target, config, history)
        return sum(1 for t in history if carried_to_model(t))

    def stop(self, wait_s: float | None = None) -> None:
        """Hang up; with ``wait_s``, block until the call's thread has gone."""
        self._cancel_recovery()
        with self._lock:
            running, self._running = self._running, None
            self._last_call = running.call if running is not None else self._last_call
            if self._status != ERROR:
                self._status = IDLE
        self._drop_next()
        if running is not None:
            running.call.finish(IDLE, None)
            self._keep_transcript(running.call)
            running.thread.request_stop()
            if wait_s:
                running.thread.join(wait_s)
        # streamlit-webrtc stops only its relayed copy of a source track; the track itself
        # would be pulled forever by the library's MediaRelay, one task per visitor on
        # Streamlit's loop. The next Start gets a fresh one from output_track().
        output, self._output = self._output, None
        if output is not None:
            output.stop()

    def apply_settings(self, config: SessionConfig) -> None:
        """The sidebar's current settings, on every run: during a call, what changed goes
        out as one debounced ``session.update``. Settings changed while the call is
        connecting go out as soon as it is up."""
        self._config = config
        running = self._running
        if running is not None:
            running.thread.call_soon(running.call.debounce_settings, config)

    def acknowledge_refusal(self, fields: tuple[str, ...]) -> None:
        """The page has put the controls of this refusal back."""
        running = self._running
        if running is not None:
            running.call.acknowledge_refusal(fields)

    def refuse(self, problem: str) -> None:
        """Show why a Start could not begin (no key, a setting out of range)."""
        with self._lock:
            self._status, self._problem = ERROR, problem

    # reported by a call, on its own thread -------------------------------------------------

    def _reported(self, running: Running, status: str, problem: str | None) -> None:
        reason, wait_s = problem, None
        with self._lock:
            if self._running is not running:
                return  # a call that was already replaced or stopped
            if status == CONNECTED:
                self._recoveries.connected()
            elif status == ERROR:
                log.info("call %s ended: %s", running.call.call_id, problem)
                lost, error = problem == problems.CONNECTION_LOST, running.call.setup_error
                wait_s = self._recoveries.after_end(lost, error)
                if wait_s is not None:
                    status, problem = CONNECTING, None
                else:
                    problem = self._recoveries.give_up(error) or problem
            self._status = status
            if problem is not None:
                self._problem = problem
            if status == ERROR or wait_s is not None:
                self._running, self._last_call = None, running.call
        if status == ERROR or wait_s is not None:
            self._drop_next()
            running.call.finish(ERROR, reason)
            self._keep_transcript(running.call)
            running.thread.request_stop()
        if wait_s is not None:
            self._retry_after(running.call, wait_s)

    def _retry_after(self, lost: UpstreamCall, wait_s: float) -> None:
        """A new upstream call with the settings wanted now and the conversation so far."""
        history = self.carried_turns()

        def retry(attempt: Recovery) -> None:
            with self._lock:
                if self._recoveries.current is not attempt or self._running is not None:
                    return  # stopped, or started anew, in the meantime
            log.info("reconnecting: attempt %s of %s", attempt.attempt, attempt.of)
            self._start(lost.target, self._config or lost.config, history)

        with self._lock:
            self._recoveries.schedule(wait_s, retry, f"{THREAD_PREFIX}retry")

    def _cancel_recovery(self) -> None:
        with self._lock:
            timer = self._recoveries.cancel()
        if timer is not None and timer is not threading.current_thread():
            timer.join(1.0)

    def _keep_transcript(self, call: UpstreamCall) -> None:
        """What the page keeps showing of a call once it is over."""
        self._last = call.snapshot(IDLE, None, self._mic_frames)
        self._last_call = call
