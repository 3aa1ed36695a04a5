"""One call to the local server: an aiortc peer with a sendrecv audio track and the
``oai-events`` data channel, speaking OpenAI's GA event protocol.

Everything here runs on the server's event loop except the input pipeline (VAD and
recognition), which has a single worker thread of its own. Client events are answered by
``handlers``; the user's turns are narrated by ``input_turns``; each response is a
``ResponseRun``. Bad client input becomes an ``error`` event and the call goes on; only
hang-up, the duration limit, a closed peer or an injected drop end it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab.local import handlers
from voicelab.local.conversation import Conversation
from voicelab.local.errors import RealtimeError
from voicelab.local.faults import Faults
from voicelab.local.input_pipeline import InputPipeline, Stopped
from voicelab.local.input_turns import InputTurns
from voicelab.local.responder import Responder
from voicelab.local.response import ResponseOptions, ResponseRun
from voicelab.local.sender import ChannelSender
from voicelab.local.session import Session
from voicelab.local.synthesizer import Synthesizer, synthesizer
from voicelab.local.turn_detection import SpeechStarted
from voicelab.media.frames import frame_to_mono
from voicelab.media.pcm_track import PcmTrack
from voicelab.protocol.ids import new_id

log = logging.getLogger(__name__)

#: Advertised in our SDP answer instead of aiortc's own (64 KiB) so an oversized client event
#: reaches us and gets a proper ``error`` instead of failing inside the client's SCTP stack.
ADVERTISED_MAX_MESSAGE = 256 * 1024
_AIORTC_MAX_MESSAGE = "a=max-message-size:65536"


class RealtimeCall:
    def __init__(
        self,
        call_id: str,
        session: Session,
        responder: Responder,
        faults: Faults,
        max_duration_s: float,
        on_end: Callable[[RealtimeCall], None],
    ) -> None:
        self.id = call_id
        self.session = session
        self.responder = responder
        self.faults = faults
        self.max_duration_s = max_duration_s
        self._on_end = on_end
        self.conversation = Conversation()
        self.synthesizer: Synthesizer = synthesizer()
        self.speech_out = PcmTrack(max_buffer_s=180.0)
        # No STUN: both OpenAI and the local server answer with host candidates, and a
        # STUN lookup (aiortc's default is Google's) only delays setup, or fails offline.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._channel = ChannelSender()
        self._out = faults.wrap(self._channel)
        self.turns = InputTurns(self._out, self.conversation, session)
        self.pipeline: InputPipeline | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"call-{call_id}")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._idle_timer: asyncio.TimerHandle | None = None
        self.response: ResponseRun | None = None
        self.audio_output_started = False
        self.ended = False

    # ---- setup -------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Take the client's offer and return our SDP answer (ICE gathered, no trickle)."""
        loop = asyncio.get_running_loop()
        pipeline_ready = loop.run_in_executor(
            self._worker, InputPipeline, self.session.turn_detection
        )
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        if not any(t.kind == "audio" for t in self.pc.getTransceivers()):
            raise RealtimeError("The SDP offer has no audio m-line.", "invalid_offer", "sdp")
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(self.speech_out)
                transceiver.direction = "sendrecv"
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        self.pipeline = await pipeline_ready
        self._timers.append(loop.call_later(self.max_duration_s, self._expire))
        if self.faults.drop_after_s is not None:
            self._timers.append(loop.call_later(self.faults.drop_after_s, self._drop))
        sdp = self.pc.localDescription.sdp.replace(
            _AIORTC_MAX_MESSAGE, f"a=max-message-size:{ADVERTISED_MAX_MESSAGE}"
        )
        if self.faults.ice_unreachable:  # nothing answers the client's checks
            self.spawn(self.pc.close())
        return self.faults.unreachable(sdp)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task of this call: cancelled when it ends, its failure logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s: task failed", self.id, exc_info=task.exception())

    def on_worker(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run on the input worker, in order with the audio around it."""
        return self._worker.submit(fn, *args)

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label != "oai-events":
            return
        self._channel.channel = channel
        channel.on("message", lambda message: handlers.handle(self, message))
        self.send({"type": "session.created", "session": self.session.snapshot()})
        if self.faults.close_channel_after_s is not None:
            close = asyncio.get_running_loop().call_later(
                self.faults.close_channel_after_s, channel.close
            )
            self._timers.append(close)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.spawn(self._read_audio(track))

    async def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.end()

    # ---- outgoing events ---------------------------------------------------------------

    def send(self, event: dict[str, Any]) -> None:
        self._out.send(event)

    def error(self, exc: RealtimeError, client_event_id: str | None = None) -> None:
        self.send(exc.event(new_id("event"), client_event_id))

    # ---- incoming audio ----------------------------------------------------------------

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while not self.ended:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.pipeline is None:
                continue
            try:
                events = await loop.run_in_executor(
                    self._worker, self.pipeline.process, frame_to_mono(frame)
                )
            except RuntimeError:  # the worker is shut down: the call or the process is ending
                return
            for event in events:
                if isinstance(event, SpeechStarted):
                    self._speech_started(event.audio_start_ms)
                elif isinstance(event, Stopped):
                    self.turns.speech_stopped(event.utterance)
                    if (self.session.turn_detection or {}).get("create_response"):
                        self._start_response_after_current(self.response_options())

    def _speech_started(self, audio_start_ms: int) -> None:
        self.cancel_idle_timer()
        self.turns.speech_started(audio_start_ms)
        turn = self.session.turn_detection or {}
        if self.response is not None and self.response.active and turn.get("interrupt_response"):
            self.response.cancel("turn_detected")

    def reconfigure_input(self) -> None:
        """The session's turn detection changed: the pipeline takes it from its next
        window."""
        if self.pipeline is not None:
            self.on_worker(self.pipeline.configure, self.session.turn_detection)

    # ---- responses ---------------------------------------------------------------------

    def response_options(
        self, override: dict[str, Any] | None = None, prompt_user: bool = False
    ) -> ResponseOptions:
        s = self.session
        override = override or {}
        voice = override.get("audio", {}).get("output", {}).get("voice", s.voice)
        limit = override.get("max_output_tokens", s.data["max_output_tokens"])
        return ResponseOptions(
            instructions=override.get("instructions", s.instructions),
            modalities=override.get("output_modalities", s.modalities),
            voice=voice,
            speed=s.speed,
            temperature=float(override.get("temperature", s.temperature)),
            max_output_tokens=None if limit == "inf" else int(limit),
            metadata=override.get("metadata"),
            prompt_user=prompt_user,
            synth_delay_s=self.faults.synth_delay_s,
        )

    def start_response(self, options: ResponseOptions) -> ResponseRun:
        run = ResponseRun(self, options, self._mark_audio_output)
        self.response = run
        self.spawn(self._run_response(run))
        return run

    def _start_response_after_current(self, options: ResponseOptions) -> None:
        """A turn ended while a response runs: the next one starts when that one is over
        (done, or cancelled by this very turn, and its response.done sent)."""

        async def later() -> None:
            while (current := self.response) is not None and not current.settled.is_set():
                await current.settled.wait()
            if not self.ended:
                self.start_response(options)

        if self.response is None:
            self.start_response(options)
        else:
            self.spawn(later())

    async def _run_response(self, run: ResponseRun) -> None:
        try:
            await run.run()
        finally:
            if self.response is run:
                self.response = None
            run.settled.set()
            if run.cancel_reason == "done":
                self._arm_idle_timer()

    def _mark_audio_output(self) -> None:
        self.audio_output_started = True

    def _arm_idle_timer(self) -> None:
        turn = self.session.turn_detection
        if self.ended or not turn or not turn.get("idle_timeout_ms"):
            return
        self.cancel_idle_timer()
        self._idle_timer = asyncio.get_running_loop().call_later(
            turn["idle_timeout_ms"] / 1000, self._idle_timeout
        )

    def cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_timeout(self) -> None:
        self._idle_timer = None
        if self.ended or self.pipeline is None or self.pipeline.speaking or self.response:
            return
        end_ms = self.pipeline.position_ms
        turn = self.session.turn_detection or {}
        self.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": max(0, end_ms - int(turn.get("idle_timeout_ms") or 0)),
                "audio_end_ms": end_ms,
                "item_id": new_id("item"),
            }
        )
        self.start_response(self.response_options(prompt_user=True))

    # ---- ending ------------------------------------------------------------------------

    def _expire(self) -> None:
        minutes = self.max_duration_s / 60
        shown = f"{minutes:g} minutes" if minutes >= 1 else f"{self.max_duration_s:g} seconds"
        self.error(
            RealtimeError(f"Your session hit the maximum duration of {shown}.", "session_expired")
        )
        self.spawn(self.end())

    def _drop(self) -> None:
        """Injected fault: vanish without a word, as a crashed peer would."""
        self.spawn(self.end())

    async def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self.cancel_idle_timer()
        for timer in self._timers:
            timer.cancel()
        if self.response is not None:
            self.response.cancel("client_cancelled")
        self.speech_out.stop()
        # Let the last event (e.g. session_expired) leave before the transport closes.
        with contextlib.suppress(Exception):
            await asyncio.sleep(0.05)
            await self.pc.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if self.pipeline is not None:
            # On the worker, after the few frames still queued for it. At interpreter exit
            # the worker is already shut down; the process is going, and the decoder with it.
            with contextlib.suppress(RuntimeError):
                self._worker.submit(self.pipeline.close)
        self._worker.shutdown(wait=False, cancel_futures=False)
        self._on_end(self)
