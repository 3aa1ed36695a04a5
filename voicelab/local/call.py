"""One call to the local server: an aiortc peer with a sendrecv audio track and the
``oai-events`` data channel, speaking OpenAI's GA event protocol.

Everything here runs on the server's event loop except the input pipeline (VAD and
recognition), which has a single worker thread of its own. Bad client input becomes an
``error`` event and the call goes on; only hang-up, the duration limit, a closed peer or an
injected drop end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab.audio import frame_to_mono
from voicelab.local import errors
from voicelab.local.conversation import Conversation, message_item, validate_client_item
from voicelab.local.errors import RealtimeError
from voicelab.local.faults import Faults
from voicelab.local.ids import new_id
from voicelab.local.input_pipeline import InputPipeline, Stopped, Utterance
from voicelab.local.responder import Responder
from voicelab.local.response import ResponseOptions, ResponseRun
from voicelab.local.session import Session
from voicelab.local.synthesizer import Synthesizer, synthesizer
from voicelab.local.turn_detection import SpeechStarted
from voicelab.pcm_track import PcmTrack

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
#: Advertised in our SDP answer so an oversized client event reaches us and gets a proper
#: ``error`` instead of failing inside the client's SCTP stack.
ADVERTISED_MAX_MESSAGE = 256 * 1024
CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
)
_RESPONSE_OVERRIDES = (
    "instructions",
    "output_modalities",
    "max_output_tokens",
    "audio",
    "metadata",
    "conversation",
    "input",
    "tools",
    "tool_choice",
    "prompt",
    "temperature",
)


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
        self.channel: Any = None
        self.pipeline: InputPipeline | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"call-{call_id}")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._idle_timer: asyncio.TimerHandle | None = None
        self.response: ResponseRun | None = None
        self._pending_turn: Utterance | None = None
        self._user_item_id: str | None = None
        self.audio_output_started = False
        self.sent_events = 0
        self.ended = False
        self.end_reason: str | None = None

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
        return self.pc.localDescription.sdp.replace(
            "a=max-message-size:65536", f"a=max-message-size:{ADVERTISED_MAX_MESSAGE}"
        )

    def _spawn(self, coro) -> asyncio.Task[Any]:  # type: ignore[no-untyped-def]
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s: task failed", self.id, exc_info=task.exception())

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label != "oai-events":
            return
        self.channel = channel
        channel.on("message", self._on_message)
        self.send({"type": "session.created", "session": self.session.snapshot()})

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._read_audio(track))

    async def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.end("peer " + self.pc.connectionState)

    # ---- outgoing events ---------------------------------------------------------------

    def send(self, event: dict[str, Any]) -> None:
        if self.channel is None or self.channel.readyState != "open":
            return
        event = {"event_id": new_id("event"), **event}
        self.sent_events += 1
        every = self.faults.malformed_every
        if every and self.sent_events % every == 0:
            self.channel.send('{"type": "error", "event_id": ')  # injected: truncated JSON
        self.channel.send(json.dumps(event))

    def _error(self, exc: RealtimeError, client_event_id: str | None = None) -> None:
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
            events = await loop.run_in_executor(
                self._worker, self.pipeline.process, frame_to_mono(frame)
            )
            for event in events:
                if isinstance(event, SpeechStarted):
                    self._speech_started(event.audio_start_ms)
                elif isinstance(event, Stopped):
                    self._speech_stopped(event.utterance)

    def _speech_started(self, audio_start_ms: int) -> None:
        self._cancel_idle_timer()
        self._user_item_id = new_id("item")
        self.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": self._user_item_id,
            }
        )
        turn = self.session.turn_detection or {}
        if self.response is not None and self.response.active and turn.get("interrupt_response"):
            self.response.cancel("turn_detected")

    def _speech_stopped(self, utterance: Utterance) -> None:
        item_id = self._user_item_id or new_id("item")
        self.send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": utterance.audio_end_ms,
                "item_id": item_id,
            }
        )
        self._commit_turn(utterance, item_id)
        if (self.session.turn_detection or {}).get("create_response"):
            self._start_response_after_current(self._response_options())

    def _commit_turn(self, utterance: Utterance, item_id: str | None = None) -> str:
        """The buffer becomes a user item, with its transcript when transcription is on."""
        item = message_item("user", [{"type": "input_audio", "transcript": None}])
        item["id"] = item_id or self._user_item_id or item["id"]
        self._user_item_id = None
        previous = self.conversation.add(
            item, audio_ms=utterance.duration_ms, heard=utterance.transcript
        )
        self.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item["id"],
                "previous_item_id": previous,
            }
        )
        self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        # The responder always hears the words; the client sees them only if it asked.
        if self.session.transcription is not None:
            item["content"][0]["transcript"] = utterance.transcript
            self._send_transcription(item["id"], utterance.transcript)
        self.send(
            {
                "type": "conversation.item.done",
                "previous_item_id": previous,
                "item": self.conversation.snapshot(item["id"]),
            }
        )
        return item["id"]

    def _send_transcription(self, item_id: str, transcript: str) -> None:
        words = transcript.split()
        for i, word in enumerate(words):
            self.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": word if i == 0 else " " + word,
                }
            )
        self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": 0},
            }
        )

    # ---- responses ---------------------------------------------------------------------

    def _response_options(
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

    def _start_response(self, options: ResponseOptions) -> ResponseRun:
        run = ResponseRun(self, options, self._mark_audio_output)
        self.response = run
        self._spawn(self._run_response(run))
        return run

    def _start_response_after_current(self, options: ResponseOptions) -> None:
        current = self.response
        if current is None or not current.active:
            self._start_response(options)
            return

        async def later() -> None:
            while self.response is not None and self.response.active and not self.ended:
                await asyncio.sleep(0.02)
            if not self.ended:
                self._start_response(options)

        self._spawn(later())

    async def _run_response(self, run: ResponseRun) -> None:
        try:
            await run.run()
        finally:
            if self.response is run:
                self.response = None
            if run.cancel_reason == "done":
                self._arm_idle_timer()

    def _mark_audio_output(self) -> None:
        self.audio_output_started = True

    def _arm_idle_timer(self) -> None:
        turn = self.session.turn_detection
        if self.ended or not turn or not turn.get("idle_timeout_ms"):
            return
        self._cancel_idle_timer()
        self._idle_timer = asyncio.get_running_loop().call_later(
            turn["idle_timeout_ms"] / 1000, self._idle_timeout
        )

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_timeout(self) -> None:
        self._idle_timer = None
        if self.ended or self.pipeline is None or self.pipeline.speaking or self.response:
            return
        end_ms = self.pipeline.position_ms
        item_id = new_id("item")
        turn = self.session.turn_detection or {}
        self.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": max(0, end_ms - int(turn.get("idle_timeout_ms") or 0)),
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        self._start_response(self._response_options(prompt_user=True))

    # ---- client events -----------------------------------------------------------------

    def _on_message(self, message: str | bytes) -> None:
        try:
            self._dispatch(message)
        except RealtimeError as exc:
            self._error(exc, self._client_event_id)
        except Exception:  # the call must survive anything a client sends
            log.exception("call %s: unexpected error handling a client event", self.id)
            self._error(
                RealtimeError(
                    "The server had an error while processing your event.",
                    "server_error",
                    type="server_error",
                ),
                self._client_event_id,
            )

    _client_event_id: str | None = None

    def _dispatch(self, message: str | bytes) -> None:
        self._client_event_id = None
        size = len(message.encode() if isinstance(message, str) else message)
        if size > MAX_MESSAGE_BYTES:
            raise RealtimeError(
                f"The event is {size} bytes; the maximum is {MAX_MESSAGE_BYTES} bytes.",
                "message_too_large",
            )
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RealtimeError(
                "We could not parse the JSON body of your event. Please send valid JSON.",
                "invalid_json",
            ) from exc
        if not isinstance(event, dict):
            raise errors.invalid_type("event", "an object", event)
        client_id = event.get("event_id")
        self._client_event_id = client_id if isinstance(client_id, str) else None
        kind = event.get("type")
        if kind is None:
            raise errors.missing_parameter("type")
        if kind not in CLIENT_EVENTS:
            raise RealtimeError(
                f"Invalid value: '{kind}'. Supported values are: "
                + ", ".join(f"'{k}'" for k in CLIENT_EVENTS)
                + ".",
                "invalid_value",
                "type",
            )
        getattr(self, "_on_" + kind.replace(".", "_"))(event)

    def _on_session_update(self, event: dict[str, Any]) -> None:
        if "session" not in event:
            raise errors.missing_parameter("session")
        self.session.apply(event["session"], audio_output_started=self.audio_output_started)
        if self.pipeline is not None:
            self._worker.submit(self.pipeline.configure, self.session.turn_detection)
        if not self.session.turn_detection or not self.session.turn_detection.get(
            "idle_timeout_ms"
        ):
            self._cancel_idle_timer()
        self.send({"type": "session.updated", "session": self.session.snapshot()})

    def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        raise RealtimeError(
            "input_audio_buffer.append is not used over WebRTC: send audio on the media track.",
            "invalid_value",
            "type",
        )

    def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        if self.pipeline is None:
            return
        future = self._worker.submit(self.pipeline.commit)
        self._spawn(self._finish_commit(asyncio.wrap_future(future)))

    async def _finish_commit(self, pending: asyncio.Future[Utterance | None]) -> None:
        utterance = await pending
        if utterance is None:
            buffered = self.pipeline.buffered_ms() if self.pipeline else 0
            self._error(
                RealtimeError(
                    "Error committing input audio buffer: buffer too small. Expected at least "
                    f"100ms of audio, but buffer only has {buffered:.2f}ms of audio.",
                    "input_audio_buffer_commit_empty",
                )
            )
            return
        self._commit_turn(utterance)

    def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        if self.pipeline is not None:
            self._worker.submit(self.pipeline.clear)
        self._user_item_id = None
        self.send({"type": "input_audio_buffer.cleared"})

    def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        run = self.response
        if run is not None and run.active:
            run.cancel("client_cancelled")
        else:
            self.speech_out.clear()

    def _on_conversation_item_create(self, event: dict[str, Any]) -> None:
        if "item" not in event:
            raise errors.missing_parameter("item")
        item = validate_client_item(event["item"])
        if item["id"] in self.conversation:
            raise errors.invalid_value("item.id", f"an item with id '{item['id']}' exists.")
        previous_id = event.get("previous_item_id")
        if previous_id is not None and not isinstance(previous_id, str):
            raise errors.invalid_type("previous_item_id", "a string", previous_id)
        previous = self.conversation.add(item, previous_id)
        self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    def _item_id(self, event: dict[str, Any]) -> str:
        item_id = event.get("item_id")
        if item_id is None:
            raise errors.missing_parameter("item_id")
        if not isinstance(item_id, str):
            raise errors.invalid_type("item_id", "a string", item_id)
        return item_id

    def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.conversation.snapshot(self._item_id(event))
        self.send({"type": "conversation.item.retrieved", "item": item})

    def _on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        self.conversation.delete(item_id)
        self.send({"type": "conversation.item.deleted", "item_id": item_id})

    def _on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        for name in ("content_index", "audio_end_ms"):
            value = event.get(name)
            if value is None:
                raise errors.missing_parameter(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise errors.invalid_type(name, "a non-negative integer", value)
        run = self.response
        if run is not None and run.active and run.item_id == item_id:
            run.cancel("client_cancelled")  # stop what is playing; the run records the cut
        self.conversation.truncate(item_id, event["content_index"], event["audio_end_ms"])
        self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": event["content_index"],
                "audio_end_ms": event["audio_end_ms"],
            }
        )

    def _on_response_create(self, event: dict[str, Any]) -> None:
        if self.response is not None and self.response.active:
            raise RealtimeError(
                "Conversation already has an active response in progress: "
                f"{self.response.id}. Wait until the response is finished before creating "
                "a new one.",
                "conversation_already_has_active_response",
            )
        override = event.get("response") or {}
        if not isinstance(override, dict):
            raise errors.invalid_type("response", "an object", override)
        for key in override:
            if key not in _RESPONSE_OVERRIDES:
                raise errors.unknown_parameter(f"response.{key}")
        if "instructions" in override and not isinstance(override["instructions"], str):
            raise errors.invalid_type("response.instructions", "a string", override["instructions"])
        modalities = override.get("output_modalities")
        if modalities is not None and modalities not in (["audio"], ["text"]):
            raise errors.invalid_value(
                "response.output_modalities", "expected ['audio'] or ['text']."
            )
        self._cancel_idle_timer()
        self._start_response(self._response_options(override))

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        run = self.response
        wanted = event.get("response_id")
        if run is None or not run.active or (wanted is not None and wanted != run.id):
            raise RealtimeError(
                "Cancellation failed: no active response found", "response_cancel_not_active"
            )
        run.cancel("client_cancelled")

    # ---- ending ------------------------------------------------------------------------

    def _expire(self) -> None:
        minutes = self.max_duration_s / 60
        shown = f"{minutes:g} minutes" if minutes >= 1 else f"{self.max_duration_s:g} seconds"
        self._error(
            RealtimeError(f"Your session hit the maximum duration of {shown}.", "session_expired")
        )
        self._spawn(self.end("max duration"))

    def _drop(self) -> None:
        """Injected fault: vanish without a word, as a crashed peer would."""
        self._spawn(self.end("fault: dropped"))

    async def end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        self.end_reason = reason
        self._cancel_idle_timer()
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
            # On the worker, after the few frames still queued for it.
            self._worker.submit(self.pipeline.close)
        self._worker.shutdown(wait=False, cancel_futures=False)
        self._on_end(self)
