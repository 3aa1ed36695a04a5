"""One upstream call's behaviour, on the call's own loop: the transport, the observers, and
what the call does about what happens.

Intents from the page arrive here (through ``CallThread``) and become client events; every
event, sent or received, goes once to the observers; and a few events make the call act:
``session.created`` (the call is up: carry the conversation over), the user's speech over
the model's answer (barge-in: cut the playback, truncate to what was heard), and the
server's answer to a settings update (send the next one).

From other threads (Streamlit's loop, the page's script threads) only these: ``browser_frame``
and ``browser_alive`` (they hand over and return), ``snapshot``, ``meters`` and
``acknowledge_refusal`` (under the stream's lock), and plain reads of ``last_browser_frame``,
``relay`` and ``log``. Everything else runs on the call's loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import av

from voicelab.call import problems, renewal
from voicelab.call.call_life import CallLife
from voicelab.call.carry_over import CarryOver
from voicelab.call.limits import CallLimits
from voicelab.call.metering import CallMeters
from voicelab.call.recorder import CallRecorder
from voicelab.call.snapshot import CONNECTED, ERROR, Meters, Snapshot
from voicelab.call.watchdog import Watchdog
from voicelab.history.writer import HistoryWriter
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.event_log import EventLog
from voicelab.observers.live_settings import LiveSettings
from voicelab.observers.playback import PlaybackTracker
from voicelab.observers.responses import ResponseState
from voicelab.observers.session_state import SessionState
from voicelab.observers.stream import EventStream, Observer
from voicelab.observers.transcript import Transcript
from voicelab.pricing import PriceTable, prices
from voicelab.protocol import client_events
from voicelab.protocol.client_events import ClientEvent, EventTooLarge, ItemTruncate, SessionUpdate
from voicelab.protocol.redact import Redactor
from voicelab.protocol.server_events import ServerEvent, answers_best_effort
from voicelab.protocol.session import SessionConfig
from voicelab.upstream.transport import ChannelClosed, Connector, SetupError, Target, Transport

log = logging.getLogger(__name__)


#: (status, problem or None): what the call tells its owner, from the call's thread.
Report = Callable[[str, str | None], None]


@dataclass(frozen=True)
class CallOptions:
    mic_queue_frames: int = 25
    browser_silence_s: float = 10.0
    session_created_timeout_s: float = 15.0
    settings_debounce_s: float = 0.3
    prices: PriceTable | None = None  # the shipped table unless given
    #: A running answer from which no event and no sound has come for this long is stopped.
    answer_stall_s: float = 30.0


class UpstreamCall(CallLife):
    def __init__(
        self,
        target: Target,
        config: SessionConfig,
        carry: CarryOver,
        output: FrameRelayTrack,
        connector: Connector,
        report: Report,
        options: CallOptions,
        extra_observers: Iterable[Observer] = (),
        standby: bool = False,
    ) -> None:
        """A ``standby`` call comes up, then waits silent until ``take_over`` (the next
        call of a renewal): nothing carried, no watchdog, no audio to the browser."""
        self.target = target
        self.config = config
        self.session = config.to_session(target.backend)
        self.carry = carry
        self.output = output
        self.connector = connector
        self.report = report
        self.options = options
        self.responses = ResponseState()
        self.session_state = SessionState()
        #: Why the setup failed, if it did (the bridge's recovery reads its status).
        self.setup_error: SetupError | None = None
        self.transcript = Transcript()
        self.transcript.carry(carry.shown, hidden=carry.hidden_ids)
        self.log = EventLog()
        #: Every observer sees events without secrets in them (the page, the log, history).
        self.redact = Redactor([target.api_key])
        self.playback = PlaybackTracker(output)
        self.live = LiveSettings(config, target.backend, self.responses)
        self.measures = CallMeters(
            target.backend, self.session.get("model"), options.prices or prices()
        )
        #: The spend cap in US dollars (None: none); read after every response.
        self.spend_cap: Callable[[], float | None] = lambda: None
        #: A host's limits (hosted mode); its spend limit is read after every response too.
        self.limits = CallLimits()
        self.recorder: CallRecorder | None = None
        self.stream = EventStream(self._observers())
        for observer in extra_observers:
            self.stream.register(observer)
        self.watchdog = Watchdog(options.browser_silence_s)
        self.relay: FrameRelayTrack | None = None  # the microphone, towards the model (``run``)
        self.transport: Transport | None = None
        self.call_id: str | None = None
        self.ice_state = "new"
        self.started_at = time.perf_counter()
        self.standby = standby
        #: When the session ends (wall time), from ``session.created``.
        self.expires_at: float | None = None
        self.up_at: float | None = None  # when it was (wall time, as ``expires_at``)
        #: Called on the call's loop a few times a second while it is up (the renewal).
        self.on_tick: Callable[[], None] = lambda: None
        self.connect_ms: float | None = None
        # Bound to the call's loop at its first wait there (Python >= 3.10), not to this thread.
        self._created = asyncio.Event()
        self._update_timer: asyncio.TimerHandle | None = None
        self._progress_at = time.monotonic()  # the last event, or sound of the model's

    def _observers(self) -> list[Observer]:
        """Every observer of the call's events, in the order each event reaches them (the
        response state first: the live settings read it)."""
        return [
            self.responses,
            self.session_state,
            self.log,
            self.transcript,
            self.playback,
            self.live,
            *self.measures.observers(),
        ]

    def record(
        self, writer: HistoryWriter, history_id: str, keep_audio: bool, owner: str | None
    ) -> None:
        """Store this call in the history as it happens (before ``run``)."""
        self.recorder = CallRecorder(writer, history_id, self, keep_audio, owner)
        self.stream.register(self.recorder)

    def finish(self, status: str, problem: str | None) -> None:
        """The call is over, from the bridge: its transcript is closed and its history
        hears the last of it."""
        with self.stream.lock:
            self.transcript.end()
        if self.recorder is not None:
            self.recorder.end(status, problem)

    # from any thread --------------------------------------------------------------------

    def browser_frame(self, frame: av.AudioFrame) -> None:
        """A microphone frame from Streamlit's loop: handed over, never waited on."""
        self.watchdog.browser_frame()
        if self.relay is not None:
            self.relay.put(frame)

    def browser_alive(self) -> None:
        """A frame arrived but is not sent (half-duplex): the browser leg is alive."""
        self.watchdog.browser_frame()

    @property
    def last_browser_frame(self) -> float | None:
        return self.watchdog.last_browser_frame

    def snapshot(self, status: str, problem: str | None, mic_frames: int) -> Snapshot:
        with self.stream.lock:
            turns, errors = self.transcript.turns(), self.transcript.errors()
            session = self.session_state.session
            live = self.live.status()
            measured = self.measures.now()
        return Snapshot(
            status=status,
            backend=self.target.backend,
            ice_state=self.ice_state,
            call_id=self.call_id,
            turns=turns,
            errors=errors,
            problem=problem,
            session=session,
            connect_ms=self.connect_ms,
            mic_frames=mic_frames,
            live=live,
            expires_at=self.expires_at,
            **measured,
        )

    def spent_usd(self) -> float | None:
        with self.stream.lock:
            return self.measures.usage.totals().cost_usd

    def meters(self, seconds: float) -> Meters:
        return self.measures.meters(seconds, self.session_state.session, self.stream.lock)

    def acknowledge_refusal(self, fields: tuple[str, ...]) -> None:
        with self.stream.lock:
            self.live.acknowledge_refusal(fields)

    # intents (on the loop) ----------------------------------------------------------------

    def send_text(self, text: str) -> None:
        self.send(client_events.user_message(text))
        self.send(client_events.response_create())

    def respond_now(self) -> None:
        self.send(client_events.response_create())

    def interrupt(self) -> None:
        """Cut playback first (nothing more plays or counts as heard), then cancel the
        response, clear the server's WebRTC buffer, and truncate. Cancel and clear are
        best-effort: an error saying the answer had already ended is not news."""
        truncate = self._cut()
        events: list[ClientEvent] = []
        if self.responses.running:
            events.append(client_events.response_cancel(best_effort=True))
        events.append(client_events.output_audio_buffer_clear(best_effort=True))
        if truncate is not None:
            events.append(truncate)
        for event in events:
            self.send(event)

    def talk_start(self) -> None:
        self.send(client_events.input_audio_buffer_clear())

    def talk_send(self) -> None:
        self.send(client_events.input_audio_buffer_commit())
        self.send(client_events.response_create())

    def debounce_settings(self, config: SessionConfig) -> None:
        """The sidebar's settings: what changed goes out once they have been still for
        ``settings_debounce_s`` (a slider drag sends one update, not fifty)."""
        if self._update_timer is not None:
            self._update_timer.cancel()
        self._update_timer = asyncio.get_running_loop().call_later(
            self.options.settings_debounce_s, self._send_settings, config
        )

    def _send_settings(self, config: SessionConfig) -> None:
        self._update_timer = None
        with self.stream.lock:
            update = self.live.want(config)  # None until the call is up or while one waits
        self._send_update(update)

    # sending --------------------------------------------------------------------------------

    def send(self, event: ClientEvent) -> None:
        """Every client event goes out here, so every observer sees all of them. Raises
        ``EventTooLarge`` or ``ChannelClosed``."""
        if self.transport is None:
            raise ChannelClosed("The call is not connected yet.")
        self.transport.send(event)
        self.stream.dispatch("sent", self.redact(event))

    def _send_quietly(self, event: ClientEvent) -> None:
        """For events the user did not ask for directly: a failure is logged, not shown."""
        try:
            self.send(event)
        except (EventTooLarge, ConnectionError) as exc:
            log.warning("could not send a %s: %s", event["type"], exc)

    def _send_update(self, update: SessionUpdate | None) -> None:
        while update is not None:
            try:
                self.send(update)
                return
            except Exception as exc:
                if not isinstance(exc, (EventTooLarge, ConnectionError)):
                    log.exception("could not send a session.update")
                reason = str(exc) if isinstance(exc, EventTooLarge) else problems.NOT_SENT
                with self.stream.lock:
                    self.live.not_sent(update["event_id"], reason)
                    self.transcript.note_error(reason)
                    update = self.live.take_due()

    # the transport's listener ---------------------------------------------------------------

    def on_event(self, event: ServerEvent) -> None:
        """A handler error must never reach the transport (it would close it)."""
        self._progress_at = time.monotonic()
        if not self.stream.dispatch("received", self.redact(event)):
            self._note_unshown()
        try:
            self._react(event)
        except Exception:
            log.exception("could not handle a %s event", event.get("type"))
            self._note_unshown()
        finally:
            # Sent even if the above failed: the live settings now hold it as in flight.
            with self.stream.lock:
                due = self.live.take_due()
            self._send_update(due)

    def on_audio(self, frame: av.AudioFrame) -> None:
        if self.playback.discarding or self.standby:
            return
        loud = self.output.put(frame)  # as decoded: packed s16 stereo 48 kHz, no conversion
        if loud:
            self._progress_at = time.monotonic()
        self.measures.answer_audio(loud, self.stream.lock)

    def on_state(self, state: str) -> None:
        if state != self.ice_state:
            log.info("call %s: %s -> %s", self.call_id, self.ice_state, state)
        self.ice_state = state

    def _note_unshown(self) -> None:
        with self.stream.lock:
            self.transcript.note_error("An event could not be shown.")

    def _react(self, event: ServerEvent) -> None:
        kind = event["type"]
        if kind == "error" and answers_best_effort(event):
            # The server had already cut the answer at or before that point (it counts what
            # it sent): its memory is no longer than what was heard, which is all we asked.
            log.info("a cut was not taken: %s", event["error"].get("message"))
        elif kind == "session.created" and not self._created.is_set():
            self._on_created()
        elif kind == "input_audio_buffer.speech_started" and self.session_state.interrupts_response:
            self._cut_playback()  # barge-in: stop talking over the user now
        elif kind == "output_audio_buffer.cleared" and self.playback.clears_playing(
            event.get("response_id")
        ):
            self._cut_playback()
        elif kind == "response.done":
            self._check_spend()

    def _check_spend(self) -> None:
        if self.measures.over_cap(self.limits.usd) is not None:
            self.report(ERROR, self.limits.usd_problem)
            return
        cap = self.spend_cap()
        spent = self.measures.over_cap(cap)
        if cap is not None and spent is not None:
            self.report(ERROR, problems.over_spend_cap(spent, cap))

    def _on_created(self) -> None:
        self.connect_ms = (time.perf_counter() - self.started_at) * 1000.0
        self.up_at = time.time()
        self.expires_at = renewal.expires_at(self.session_state.session, self.up_at)
        if not self.standby:
            self._begin()
        self._created.set()
        if self.call_id is not None:  # else the setup has not returned yet: it reports
            self.report(CONNECTED, None)

    def _begin(self) -> None:
        """The call takes the conversation: the earlier turns go in, the watch begins."""
        if self.relay is not None:
            self.relay.drop_queued()  # audio from before the call existed is stale
        self.watchdog.start()
        for event in self.carry.events():  # the earlier conversation, oldest first
            self._send_quietly(event)

    def take_over(self, carry: CarryOver) -> None:
        """A standby call becomes the call (from the bridge, on any thread): its transcript
        starts with the conversation now, before the page reads it. ``activate`` follows on
        the call's loop."""
        with self.stream.lock:
            self.carry = carry
            self.transcript.carry(carry.shown, hidden=carry.hidden_ids)

    def activate(self, config: SessionConfig) -> None:
        """On the loop, after ``take_over``: the earlier turns go in, and settings changed
        while this call stood by follow."""
        self.standby = False
        self._begin()
        self.debounce_settings(config)

    def between_turns(self) -> bool:
        """A pause in the conversation (no one speaking, nothing playing or pending, every
        turn final): where a renewal may switch calls without cutting anyone off."""
        with self.stream.lock:
            quiet = self.measures.activity.now(self.measures.model_audible()) == "listening"
            final = all(t.final for t in self.transcript.turns())
        return quiet and final and not self.responses.running and not self.output.queued_frames

    def _cut_playback(self) -> None:
        """Drop what the browser has not been sent, and tell the server where the user
        stopped hearing, so the model remembers saying only that."""
        truncate = self._cut()
        if truncate is not None:
            self._send_quietly(truncate)

    def _cut(self) -> ItemTruncate | None:
        """Cut the playback; the truncate to what was heard, if an answer was playing."""
        heard = self.playback.cut()
        if heard is None:
            return None
        return client_events.item_truncate(heard.item_id, heard.content_index, heard.audio_end_ms)
