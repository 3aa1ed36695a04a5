"""One visitor's call: the browser leg (streamlit-webrtc's audio sink in, a relay track out)
joined to an upstream Realtime connection that runs on its own asyncio loop in its own thread.

Streamlit's loop only ever calls ``on_browser_frame`` (which hands the frame across and
returns) and the page only ever sends intents and reads ``snapshot()``. Everything that
speaks the protocol happens on the call's thread, and nothing of a call outlives ``stop``:
the upstream is hung up, the peer closed, the loop closed, the thread joined.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av

from voicelab import signaling
from voicelab.audio import FRAME_MS
from voicelab.connection import EventTooLarge, RealtimeConnection
from voicelab.conversation import NOT_TRANSCRIBED, Transcript, Turn
from voicelab.event_log import EventLog, Logged
from voicelab.events import message_item
from voicelab.live_settings import LiveSettings, LiveStatus
from voicelab.playback import CUT_EVENT_PREFIX, PlaybackTracker, cut_event_id
from voicelab.relay_track import DelayStats, FrameRelayTrack
from voicelab.session_config import Backend, SessionConfig

log = logging.getLogger(__name__)

IDLE, CONNECTING, CONNECTED, ERROR = "idle", "connecting", "connected", "error"
#: How late a microphone frame may be before the uplink sends silence in its place.
UPLINK_GAP_S = 0.09
#: Turns a reconnect carries into the new call (bounded, like everything else).
MAX_CARRIED_TURNS = 100
_numbers = itertools.count(1)


def carried_to_model(turn: Turn) -> bool:
    """Is an earlier turn re-sent to the model on reconnect? Only what was said in full:
    after a truncate OpenAI keeps no text of an interrupted answer (the user did not hear
    the rest), and a failed or switched-off transcription has none. The page still shows
    every turn."""
    return turn.status == "done" and bool(turn.text) and turn.text != NOT_TRANSCRIBED


class BridgeError(ValueError):
    """An intent that cannot be carried out now; ``str()`` tells the user why."""


@dataclass(frozen=True)
class Target:
    """Where a call goes. The key is kept out of ``repr`` so it never reaches a log."""

    base_url: str
    api_key: str = field(repr=False)
    backend: Backend = "openai"


@dataclass(frozen=True)
class Snapshot:
    """What the page renders; immutable, so a fragment can read it without a lock."""

    status: str = IDLE
    ice_state: str = "new"
    call_id: str | None = None
    turns: tuple[Turn, ...] = ()
    errors: tuple[str, ...] = ()
    problem: str | None = None
    session: dict[str, Any] | None = None
    connect_ms: float | None = None
    mic_frames: int = 0
    playback_ms: float = 0.0
    live: LiveStatus = field(default_factory=LiveStatus)


@dataclass
class DelayFigures:
    """The bridge's own added delay per direction, at its queues."""

    uplink: DelayStats
    downlink: DelayStats | None


_bridges: weakref.WeakSet[Bridge] = weakref.WeakSet()


@atexit.register
def _hang_up_everything() -> None:
    """Call threads are daemons: without this, stopping the server would leave upstream
    calls open (and billed) until they time out."""
    for bridge in list(_bridges):
        bridge.stop(5.0)


class Bridge:
    def __init__(
        self,
        playback_buffer_s: float = 2.0,
        mic_queue_frames: int = 25,
        browser_silence_s: float = 10.0,
        session_created_timeout_s: float = 15.0,
        settings_debounce_s: float = 0.3,
        signaling_timeout_s: float = signaling.DEFAULT_TIMEOUT_S,
    ) -> None:
        self.playback_frames = max(1, int(playback_buffer_s * 1000 / FRAME_MS))
        #: Mute the microphone while the model speaks (for speakers without echo
        #: cancellation: the model must not hear, and answer, itself). Changeable any time.
        self.half_duplex = False
        self._output: FrameRelayTrack | None = None
        self.mic_queue_frames = mic_queue_frames
        self.browser_silence_s = browser_silence_s
        self.session_created_timeout_s = session_created_timeout_s
        self.settings_debounce_s = settings_debounce_s
        self.signaling_timeout_s = signaling_timeout_s
        self._lock = threading.Lock()
        self._call: _Call | None = None
        self._status = IDLE
        self._problem: str | None = None
        self._mic_frames = 0
        self._last_turns: tuple[Turn, ...] = ()  # the transcript of the call that ended
        self._last_log: EventLog | None = None
        self._last_errors: tuple[str, ...] = ()
        _bridges.add(self)

    # browser leg (called on Streamlit's loop: must never block) --------------------------

    def on_browser_frame(self, frame: av.AudioFrame) -> None:
        """The sink callback: hands the frame to the call's thread and returns."""
        self._mic_frames += 1
        call = self._call
        if call is None:
            return
        if self.half_duplex and self.model_speaking():
            call.last_browser_frame = time.monotonic()  # the browser is alive, just muted
            return
        call.browser_frame(frame)

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
            call = self._call
            last = call.last_browser_frame if call is not None else None
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
        a new one once the previous browser session has ended it."""
        track = self._output
        if track is None or track.readyState == "ended":
            track = self._output = FrameRelayTrack(max_frames=self.playback_frames)
        return track

    def flush_playback(self) -> int:
        """Drop the model audio not yet sent to the browser; returns frames dropped."""
        track = self._output
        return 0 if track is None else track.clear()

    # intents (called from the script thread) ---------------------------------------------

    def start(self, target: Target, config: SessionConfig, history: tuple[Turn, ...] = ()) -> None:
        """Begin a new call (ending any previous one); returns at once. Raises
        ``ConfigError`` for a setting out of range. ``history`` is sent into the new call
        as conversation items as soon as it is up."""
        config.validate()
        call = _Call(self, target, config, history[-MAX_CARRIED_TURNS:])
        with self._lock:
            previous = self._call
            self._call = call
            self._status = CONNECTING
            self._problem = None
            self._mic_frames = 0
        if previous is not None:
            previous.request_stop()
        self.flush_playback()
        call.start()

    def reconnect(self, target: Target, config: SessionConfig) -> int:
        """A new call for settings no update can change (the model, a voice already heard),
        carrying the conversation over so context and transcript survive. Returns the
        number of turns carried into the model's context (the page keeps all of them)."""
        history = tuple(t for t in self.snapshot().turns if t.final)[-MAX_CARRIED_TURNS:]
        self.start(target, config, history)
        return sum(1 for t in history if carried_to_model(t))

    def stop(self, wait_s: float | None = None) -> None:
        """Hang up; with ``wait_s``, block until the call's thread has gone."""
        with self._lock:
            call, self._call = self._call, None
            if self._status != ERROR:
                self._status = IDLE
        if call is not None:
            self._keep_transcript(call)
            call.request_stop()
            if wait_s:
                call.join(wait_s)
        # streamlit-webrtc stops only its relayed copy of a source track; the track itself
        # would be pulled forever by the library's MediaRelay, one task per visitor on
        # Streamlit's loop. The next Start gets a fresh one from output_track().
        output, self._output = self._output, None
        if output is not None:
            output.stop()

    def playback_queued(self) -> int:
        track = self._output
        return 0 if track is None else track.queued_frames

    def apply_settings(self, config: SessionConfig) -> None:
        """The sidebar's current settings, on every run: during a call, what changed goes
        out as one ``session.update`` once the settings have been still for
        ``settings_debounce_s`` (dragging a slider sends one update, not fifty). Settings
        changed while the call is connecting go out as soon as it is up."""
        call = self._call
        if call is not None:
            call.want_settings(config)

    def acknowledge_refusal(self, fields: tuple[str, ...]) -> None:
        """The page has put the controls of this refusal back."""
        call = self._call
        if call is not None:
            with call.lock:
                call.live.acknowledge_refusal(fields)

    def refuse(self, problem: str) -> None:
        """Show why a Start could not begin (no key, a setting out of range)."""
        with self._lock:
            self._status, self._problem = ERROR, problem

    def send_text(self, text: str) -> None:
        """A typed user message into the same call, then ask for a response."""
        text = text.strip()
        if not text:
            raise BridgeError("Type a message first.")
        self._live_call("typed messages go into a live call").send_from_thread(
            [
                {"type": "conversation.item.create", "item": message_item("user", text)},
                {"type": "response.create"},
            ]
        )

    def respond_now(self) -> None:
        """Ask for a response to what is in the conversation now."""
        self._live_call("there is nothing to respond to yet").send_from_thread(
            [{"type": "response.create"}]
        )

    def interrupt(self) -> None:
        """Stop the model mid-sentence: cancel the response, clear what the server still
        holds for WebRTC, drop what the bridge has not yet played, and truncate the answer
        to what was heard."""
        call = self._live_call("there is nothing to interrupt")
        call.send_from_thread(call.interrupt_events)

    def talk_start(self) -> None:
        """Push-to-talk (turn detection off): begin a turn with an empty input buffer."""
        self._live_call("push-to-talk works in a live call").send_from_thread(
            [{"type": "input_audio_buffer.clear"}]
        )

    def talk_send(self) -> None:
        """Push-to-talk: end the turn (commit what was said) and ask for a response."""
        self._live_call("push-to-talk works in a live call").send_from_thread(
            [{"type": "input_audio_buffer.commit"}, {"type": "response.create"}]
        )

    def _live_call(self, why: str) -> _Call:
        call = self._call
        if call is None or self._status != CONNECTED:
            raise BridgeError(f"Start the call first; {why}.")
        return call

    # reading -------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._call is not None

    def snapshot(self) -> Snapshot:
        with self._lock:
            call = self._call
            status, problem = self._status, self._problem
        if call is None:
            return Snapshot(
                status=status,
                problem=problem,
                turns=self._last_turns,
                errors=self._last_errors,
                mic_frames=self._mic_frames,
            )
        return call.snapshot(status, problem, self._mic_frames)

    def delays(self) -> DelayFigures | None:
        call = self._call
        if call is None or call.relay is None:
            return None
        output = self._output
        return DelayFigures(call.relay.delays, output.delays if output else None)

    def events(self, kind: str | None = None) -> tuple[Logged, ...]:
        """The protocol events of the current call (or of the one that just ended)."""
        call = self._call
        log_ = call.log if call is not None else self._last_log
        return log_.entries(kind) if log_ is not None else ()

    def threads(self) -> list[threading.Thread]:
        """Threads this bridge has running (tests check none outlive a call)."""
        return [t for t in threading.enumerate() if t.name.startswith("voicelab-call-")]

    # called by a call, on its own thread ---------------------------------------------------

    def _report(self, call: _Call, status: str, problem: str | None = None) -> None:
        with self._lock:
            if self._call is not call:
                return  # a call that was already replaced or stopped
            self._status = status
            if problem is not None:
                self._problem = problem
            if status == ERROR:
                self._call = None
        if status == ERROR:
            self._keep_transcript(call)
            call.request_stop()

    def _keep_transcript(self, call: _Call) -> None:
        with call.lock:
            self._last_turns = call.transcript.turns()
            self._last_errors = call.transcript.errors()
        self._last_log = call.log


def _answers_a_cut(event: dict[str, Any]) -> bool:
    error = event.get("error")
    return isinstance(error, dict) and str(error.get("event_id")).startswith(CUT_EVENT_PREFIX)


class _Call:
    """One upstream call on its own loop and thread."""

    def __init__(
        self,
        bridge: Bridge,
        target: Target,
        config: SessionConfig,
        history: tuple[Turn, ...] = (),
    ) -> None:
        self.bridge = bridge
        self.target = target
        self.session = config.to_session(target.backend)
        self.live = LiveSettings(config, target.backend)
        self._update_timer: asyncio.TimerHandle | None = None
        self.responding = False  # between response.created and response.done
        self.number = next(_numbers)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._run, name=f"voicelab-call-{self.number}", daemon=True
        )
        self.lock = threading.Lock()
        self.transcript = Transcript()
        # The earlier call's turns: all shown; the complete ones re-sent under our own ids.
        self._carried = tuple(
            (f"voicelab_carried_{self.number}_{i}", turn)
            for i, turn in enumerate(t for t in history if carried_to_model(t))
        )
        self.transcript.carry(history, hidden=tuple(i for i, _ in self._carried))
        self.log = EventLog()
        self.playback = PlaybackTracker()
        self.relay: FrameRelayTrack | None = None
        self.conn: RealtimeConnection | None = None
        self.call_id: str | None = None
        self.ice_state = "new"
        self.effective_session: dict[str, Any] | None = None
        self.started_at = time.perf_counter()
        self.connect_ms: float | None = None
        self.last_browser_frame: float | None = None  # real frames only
        self.watch_since: float | None = None  # when the silent-browser watchdog began
        self._stop: asyncio.Event | None = None
        self._created: asyncio.Event | None = None
        self._stop_requested = False

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (never from the thread itself)."""
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def request_stop(self) -> None:
        self._stop_requested = True
        if self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self.loop.call_soon_threadsafe(self._stop.set)

    def browser_frame(self, frame: av.AudioFrame) -> None:
        self.last_browser_frame = time.monotonic()
        if self.relay is not None:
            self.relay.put(frame)

    def want_settings(self, config: SessionConfig) -> None:
        """From any thread: (re)start the debounce timer for these settings."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: the call is over
            self.loop.call_soon_threadsafe(self._debounce, config)

    def _debounce(self, config: SessionConfig) -> None:
        if self._update_timer is not None:
            self._update_timer.cancel()
        self._update_timer = self.loop.call_later(
            self.bridge.settings_debounce_s, self._send_settings, config
        )

    def _send_settings(self, config: SessionConfig) -> None:
        self._update_timer = None
        with self.lock:
            event = self.live.want(config)  # None until the call is up or while one waits
        self._send_update(event)

    def _send_update(self, event: dict[str, Any] | None) -> None:
        if event is None:
            return
        try:
            self._send(event)
        except Exception as exc:
            # Reported as the server would, an error naming the update, so it is never left
            # in flight with every later change waiting behind it.
            if not isinstance(exc, (EventTooLarge, ConnectionError)):
                log.exception("could not send a session.update")
            message = str(exc) if isinstance(exc, EventTooLarge) else "It could not be sent."
            self._on_event(
                {"type": "error", "error": {"message": message, "event_id": event["event_id"]}}
            )

    def _send(self, event: dict[str, Any]) -> None:
        """Every client event goes out here, so the log has all of them."""
        assert self.conn is not None
        self.conn.send(event)
        self.log.add("sent", event)

    def _send_or_log(self, event: dict[str, Any]) -> None:
        """For events the user did not ask for directly: a failure is logged, not shown."""
        try:
            self._send(event)
        except (EventTooLarge, ConnectionError) as exc:
            log.warning("could not send a %s: %s", event.get("type"), exc)

    def send_from_thread(
        self,
        events: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
        timeout: float = 3.0,
    ) -> None:
        """Send ``events`` on the call's loop; a callable is called there, so what it
        decides (Interrupt's cut) is decided on the same thread as the events it answers."""

        async def send() -> None:
            if self.conn is None:
                raise BridgeError("The call is not connected yet.")
            for event in events() if callable(events) else events:
                self._send(event)

        try:
            future = asyncio.run_coroutine_threadsafe(send(), self.loop)
        except RuntimeError as exc:  # the loop has closed: the call just ended
            raise BridgeError("The call has ended; press Start to talk again.") from exc
        try:
            future.result(timeout)
        except (EventTooLarge, BridgeError) as exc:
            raise BridgeError(str(exc)) from exc
        except concurrent.futures.TimeoutError as exc:
            future.cancel()  # never send it late, after the user has retried
            raise BridgeError("The call did not take the message in time; try again.") from exc
        except Exception as exc:  # cancelled by the call ending, channel closed, …
            raise BridgeError("The call is not ready for messages; try again.") from exc

    def snapshot(self, status: str, problem: str | None, mic_frames: int) -> Snapshot:
        with self.lock:
            turns, errors = self.transcript.turns(), self.transcript.errors()
            session = self.effective_session
            live = self.live.status()
        return Snapshot(
            status=status,
            ice_state=self.ice_state,
            call_id=self.call_id,
            turns=turns,
            errors=errors,
            problem=problem,
            session=session,
            connect_ms=self.connect_ms,
            mic_frames=mic_frames,
            playback_ms=self.bridge.playback_queued() * FRAME_MS,
            live=live,
        )

    # the call's thread ---------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except Exception:  # never let a bug escape a thread silently
            log.exception("call %s crashed", self.number)
            self.bridge._report(self, ERROR, "The call failed unexpectedly; press Start again.")
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._created = asyncio.Event()
        if self._stop_requested:
            return
        # The microphone's frames reach us with the browser leg's jitter; silence filled in
        # for a frame merely late is a gap cut into the user's speech (under CPU load, 40 ms
        # of slack filled ~20% of frames and the VAD found turns 400 ms longer). 90 ms stays
        # under the 100 ms at which the relay's clock skips ahead.
        self.relay = FrameRelayTrack(
            self.loop, max_frames=self.bridge.mic_queue_frames, gap_s=UPLINK_GAP_S
        )
        self.conn = RealtimeConnection(
            self.target.base_url,
            self.target.api_key,
            self.session,
            self._on_event,
            self._on_audio,
            mic=self.relay,
            on_state=self._on_state,
            signaling_timeout_s=self.bridge.signaling_timeout_s,
        )
        try:
            await self._connect()
            if not self._stop.is_set():
                await self._watch()
        except signaling.SignalingError as exc:
            self.bridge._report(self, ERROR, str(exc))
        finally:
            await self.conn.close(hang_up=True)

    async def _connect(self) -> None:
        assert self.conn is not None and self._stop is not None and self._created is not None
        connecting = asyncio.ensure_future(self.conn.connect())
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():
            # Stopped mid-setup: let the POST finish briefly so the call can be hung up.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(connecting), 5.0)
            if not connecting.done():
                connecting.cancel()
                return
        self.call_id = connecting.result()  # raises SignalingError
        if self._stop.is_set():
            return
        created = asyncio.ensure_future(self._created.wait())
        stopping = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait(
            {created, stopping},
            timeout=self.bridge.session_created_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        created.cancel()
        stopping.cancel()
        if not done:
            if self.ice_state in ("new", "checking"):
                text = (
                    "The media connection to the Realtime service is stuck in "
                    f"'{self.ice_state}': outbound UDP is probably blocked on this server."
                )
            else:
                text = (
                    "The Realtime service accepted the call but never sent session.created "
                    f"within {self.bridge.session_created_timeout_s:g} s; press Start again."
                )
            self.bridge._report(self, ERROR, text)

    async def _watch(self) -> None:
        """Until stopped: end the call if the browser leg or the upstream dies."""
        assert self._stop is not None
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)
            if self.ice_state in ("failed", "closed") and not self._stop.is_set():
                self.bridge._report(
                    self, ERROR, "The connection to the Realtime service was lost; press Start."
                )
                return
            heard = [t for t in (self.last_browser_frame, self.watch_since) if t is not None]
            if heard and time.monotonic() - max(heard) > self.bridge.browser_silence_s:
                self.bridge._report(
                    self,
                    ERROR,
                    f"The browser sent no audio for {self.bridge.browser_silence_s:g} s, so the "
                    "call was ended; press Start to talk again.",
                )
                return

    def _on_state(self, state: str) -> None:
        self.ice_state = state

    def _on_event(self, event: dict[str, Any]) -> None:
        """A handler error must never reach aiortc (it would close the transport)."""
        self.log.add("received", event)
        try:
            self._handle_event(event)
        except Exception:
            log.exception("could not handle a %s event", event.get("type"))
            with self.lock:
                self.transcript.apply(
                    {"type": "error", "error": {"message": "An event could not be shown."}}
                )

    def interrupt_events(self) -> list[dict[str, Any]]:
        """On the call's loop: cut playback first (nothing more plays or counts as heard),
        then cancel the response, clear the server's WebRTC buffer, and truncate. Cancel and
        clear carry cut ids: an error saying the answer had already ended is not news."""
        truncate = self.playback.cut(self.bridge._output)
        events: list[dict[str, Any]] = []
        if self.responding:
            events.append({"type": "response.cancel", "event_id": cut_event_id()})
        events.append({"type": "output_audio_buffer.clear", "event_id": cut_event_id()})
        if truncate is not None:
            events.append(truncate)
        return events

    def _handle_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "response.created":
            self.responding = True
        elif kind == "response.done":
            self.responding = False
        elif kind == "error" and _answers_a_cut(event):
            # The server had already cut the answer at or before that point (it counts what
            # it sent): its memory is no longer than what was heard, which is all we asked.
            log.info("truncate not taken: %s", event["error"].get("message"))
            return
        self.playback.on_event(event, self.bridge._output)
        with self.lock:
            self.transcript.apply(event)
            waiting_update = self.live.on_event(event)
            if kind in ("session.created", "session.updated"):
                self.effective_session = event.get("session")
        try:
            if kind == "session.created" and self._created is not None:
                self.connect_ms = (time.perf_counter() - self.started_at) * 1000.0
                if self.relay is not None:
                    self.relay.drop_queued()  # audio from before the call existed is stale
                # The silent-browser watchdog starts now, even if no frame ever arrives (a
                # browser leg that connected but delivers nothing must not keep a call open).
                self.watch_since = time.monotonic()
                self._carry_over()
                self._created.set()
                self.bridge._report(self, CONNECTED)
            elif kind == "input_audio_buffer.speech_started" and self._interrupts():
                self._cut_playback()  # barge-in: stop talking over the user now
            elif kind == "output_audio_buffer.cleared" and self.playback.clears_playing(
                event.get("response_id")
            ):
                self._cut_playback()
        finally:
            # After the carry-over on session.created; sent even if the above failed, since
            # live settings now hold it as in flight.
            self._send_update(waiting_update)

    def _interrupts(self) -> bool:
        """Does the user's speech cut the model off in the session in force?"""
        try:
            turn = self.effective_session["audio"]["input"]["turn_detection"]  # type: ignore[index]
            return bool(turn.get("interrupt_response", True))
        except (TypeError, KeyError, AttributeError):
            return True  # unknown: stopping the model is the safe side

    def _cut_playback(self) -> None:
        """Drop what the browser has not been sent, and tell the server where the user
        stopped hearing, so the model remembers saying only that."""
        truncate = self.playback.cut(self.bridge._output)
        if truncate is not None and self.conn is not None:
            self._send_or_log(truncate)

    def _carry_over(self) -> None:
        """Re-send the earlier conversation as items, oldest first."""
        if self.conn is None:
            return
        for item_id, turn in self._carried:
            item = message_item(turn.role, turn.text, item_id)
            self._send_or_log({"type": "conversation.item.create", "item": item})

    def _on_audio(self, frame: av.AudioFrame) -> None:
        output = self.bridge._output
        if output is not None and not self.playback.discarding:
            output.put(frame)  # as decoded: packed s16 stereo 48 kHz, no conversion
