"""The local server's answer to each client event, found in one explicit table.

``handle`` reads one data-channel message; anything wrong with it becomes an ``error``
event naming the client's ``event_id``, and the call goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from voicelab.local import errors
from voicelab.local.conversation import Conversation, validate_client_item
from voicelab.local.errors import RealtimeError
from voicelab.local.input_pipeline import InputPipeline, Utterance
from voicelab.local.input_turns import InputTurns
from voicelab.local.response import ResponseOptions, ResponseRun
from voicelab.local.session import Session
from voicelab.media.pcm_track import PcmTrack
from voicelab.protocol import wire_json
from voicelab.protocol.limits import MAX_EVENT_BYTES, MIN_COMMIT_MS

log = logging.getLogger(__name__)


class Call(Protocol):
    """What the handlers need of a call (``local.call.RealtimeCall``)."""

    id: str
    session: Session
    conversation: Conversation
    pipeline: InputPipeline | None
    speech_out: PcmTrack
    response: ResponseRun | None
    turns: InputTurns
    audio_output_started: bool

    def send(self, event: dict[str, Any]) -> None: ...
    def error(self, exc: RealtimeError, client_event_id: str | None = None) -> None: ...
    def on_worker(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]: ...
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
    def reconfigure_input(self) -> None: ...
    def cancel_idle_timer(self) -> None: ...
    def start_response(self, options: ResponseOptions) -> ResponseRun: ...
    def response_options(self, override: dict[str, Any] | None = None) -> ResponseOptions: ...


Handler = Callable[[Call, dict[str, Any]], None]

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


def handle(call: Call, message: str | bytes) -> None:
    """One client message: the call must survive anything a client sends."""
    client_id: str | None = None
    try:
        event = _parse(message)
        if isinstance(event.get("event_id"), str):
            client_id = event["event_id"]
        _handler(event.get("type"))(call, event)
    except RealtimeError as exc:
        call.error(exc, client_id)
    except Exception:
        log.exception("call %s: unexpected error handling a client event", call.id)
        call.error(
            RealtimeError(
                "The server had an error while processing your event.",
                "server_error",
                type="server_error",
            ),
            client_id,
        )


def _parse(message: str | bytes) -> dict[str, Any]:
    size = len(message.encode() if isinstance(message, str) else message)
    if size > MAX_EVENT_BYTES:
        raise RealtimeError(
            f"The event is {size} bytes; the maximum is {MAX_EVENT_BYTES} bytes.",
            "message_too_large",
        )
    try:
        event = wire_json.loads(message)
    except wire_json.TooDeep as exc:
        raise RealtimeError(
            f"We could not parse the JSON body of your event: {exc}.", "invalid_json"
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RealtimeError(
            "We could not parse the JSON body of your event. Please send valid JSON.",
            "invalid_json",
        ) from exc
    if not isinstance(event, dict):
        raise errors.invalid_type("event", "an object", event)
    return event


def _handler(kind: Any) -> Handler:
    if kind is None:
        raise errors.missing_parameter("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise RealtimeError(
            f"Invalid value: '{kind}'. Supported values are: "
            + ", ".join(f"'{k}'" for k in HANDLERS)
            + ".",
            "invalid_value",
            "type",
        )
    return handler


def _item_id(event: dict[str, Any]) -> str:
    item_id = event.get("item_id")
    if item_id is None:
        raise errors.missing_parameter("item_id")
    if not isinstance(item_id, str):
        raise errors.invalid_type("item_id", "a string", item_id)
    return item_id


# ---- the handlers, in the order of the table ---------------------------------------------


def session_update(call: Call, event: dict[str, Any]) -> None:
    if "session" not in event:
        raise errors.missing_parameter("session")
    call.session.apply(event["session"], audio_output_started=call.audio_output_started)
    call.reconfigure_input()
    if not call.session.turn_detection or not call.session.turn_detection.get("idle_timeout_ms"):
        call.cancel_idle_timer()
    call.send({"type": "session.updated", "session": call.session.snapshot()})


def input_audio_buffer_append(call: Call, event: dict[str, Any]) -> None:
    raise RealtimeError(
        "input_audio_buffer.append is not used over WebRTC: send audio on the media track.",
        "invalid_value",
        "type",
    )


def input_audio_buffer_commit(call: Call, event: dict[str, Any]) -> None:
    if call.pipeline is None:
        return
    pending = asyncio.wrap_future(call.on_worker(call.pipeline.commit))

    async def finish() -> None:
        utterance: Utterance | None = await pending
        if utterance is None:
            buffered = call.pipeline.buffered_ms() if call.pipeline else 0
            call.error(
                RealtimeError(
                    "Error committing input audio buffer: buffer too small. Expected at least "
                    f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered:.2f}ms of audio.",
                    "input_audio_buffer_commit_empty",
                )
            )
            return
        call.turns.commit(utterance)

    call.spawn(finish())


def input_audio_buffer_clear(call: Call, event: dict[str, Any]) -> None:
    if call.pipeline is not None:
        call.on_worker(call.pipeline.clear)
    call.turns.cleared()


def output_audio_buffer_clear(call: Call, event: dict[str, Any]) -> None:
    run = call.response
    if run is not None and run.active:
        run.cancel("client_cancelled")
    else:
        call.speech_out.clear()


def conversation_item_create(call: Call, event: dict[str, Any]) -> None:
    if "item" not in event:
        raise errors.missing_parameter("item")
    item = validate_client_item(event["item"])
    if item["id"] in call.conversation:
        raise errors.invalid_value("item.id", f"an item with id '{item['id']}' exists.")
    previous_id = event.get("previous_item_id")
    if previous_id is not None and not isinstance(previous_id, str):
        raise errors.invalid_type("previous_item_id", "a string", previous_id)
    previous = call.conversation.add(item, previous_id)
    call.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
    call.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})


def conversation_item_retrieve(call: Call, event: dict[str, Any]) -> None:
    item = call.conversation.snapshot(_item_id(event))
    call.send({"type": "conversation.item.retrieved", "item": item})


def conversation_item_truncate(call: Call, event: dict[str, Any]) -> None:
    item_id = _item_id(event)
    for name in ("content_index", "audio_end_ms"):
        value = event.get(name)
        if value is None:
            raise errors.missing_parameter(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise errors.invalid_type(name, "a non-negative integer", value)
    run = call.response
    if run is not None and run.active and run.item_id == item_id:
        run.cancel("client_cancelled")  # stop what is playing; the run records the cut
    call.conversation.truncate(item_id, event["content_index"], event["audio_end_ms"])
    call.send(
        {
            "type": "conversation.item.truncated",
            "item_id": item_id,
            "content_index": event["content_index"],
            "audio_end_ms": event["audio_end_ms"],
        }
    )


def conversation_item_delete(call: Call, event: dict[str, Any]) -> None:
    item_id = _item_id(event)
    call.conversation.delete(item_id)
    call.send({"type": "conversation.item.deleted", "item_id": item_id})


def response_create(call: Call, event: dict[str, Any]) -> None:
    if call.response is not None and call.response.active:
        raise RealtimeError(
            "Conversation already has an active response in progress: "
            f"{call.response.id}. Wait until the response is finished before creating "
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
        raise errors.invalid_value("response.output_modalities", "expected ['audio'] or ['text'].")
    call.cancel_idle_timer()
    call.start_response(call.response_options(override))


def response_cancel(call: Call, event: dict[str, Any]) -> None:
    run = call.response
    wanted = event.get("response_id")
    if run is None or not run.active or (wanted is not None and wanted != run.id):
        raise RealtimeError(
            "Cancellation failed: no active response found", "response_cancel_not_active"
        )
    run.cancel("client_cancelled")


#: Every client event type the local server takes, and what it does with it.
HANDLERS: dict[str, Handler] = {
    "session.update": session_update,
    "input_audio_buffer.append": input_audio_buffer_append,
    "input_audio_buffer.commit": input_audio_buffer_commit,
    "input_audio_buffer.clear": input_audio_buffer_clear,
    "output_audio_buffer.clear": output_audio_buffer_clear,
    "conversation.item.create": conversation_item_create,
    "conversation.item.retrieve": conversation_item_retrieve,
    "conversation.item.truncate": conversation_item_truncate,
    "conversation.item.delete": conversation_item_delete,
    "response.create": response_create,
    "response.cancel": response_cancel,
}
