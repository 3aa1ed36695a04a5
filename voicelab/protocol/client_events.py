"""Every client event the app sends, each built by one typed constructor, and the one place
an event is serialised.

The envelope is the same for all of them: a ``type`` and an ``event_id`` of ours, so the
server's ``error`` about any of them can be matched to it (``error.event_id``). Events are
plain dicts on the wire and in the event log; the ``TypedDict`` classes say their shape.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from voicelab.protocol import ids
from voicelab.protocol.items import text_message
from voicelab.protocol.limits import MAX_EVENT_BYTES


class EventTooLarge(ValueError):
    """A client event over the data channel's 64 KiB limit; ``str()`` says what to do."""


class ClientEvent(TypedDict):
    type: str
    event_id: str


class SessionUpdate(ClientEvent):
    session: dict[str, Any]


class ItemCreate(ClientEvent):
    item: dict[str, Any]


class ItemTruncate(ClientEvent):
    item_id: str
    content_index: int
    audio_end_ms: int


def _envelope(kind: str, best_effort: bool = False) -> ClientEvent:
    return ClientEvent(type=kind, event_id=ids.client_event_id(best_effort))


def session_update(session: dict[str, Any]) -> SessionUpdate:
    """Change the session in force; ``session`` holds only what changes."""
    return SessionUpdate(type="session.update", event_id=ids.client_event_id(), session=session)


def item_create(item: dict[str, Any]) -> ItemCreate:
    return ItemCreate(type="conversation.item.create", event_id=ids.client_event_id(), item=item)


def user_message(text: str) -> ItemCreate:
    """A typed user turn."""
    return item_create(text_message("user", text))


def response_create() -> ClientEvent:
    """Ask for a response to the conversation as it stands."""
    return _envelope("response.create")


def response_cancel(best_effort: bool = False) -> ClientEvent:
    """Stop the response in progress."""
    return _envelope("response.cancel", best_effort)


def output_audio_buffer_clear(best_effort: bool = False) -> ClientEvent:
    """Drop what the server still holds of the answer's audio (WebRTC only)."""
    return _envelope("output_audio_buffer.clear", best_effort)


def item_truncate(item_id: str, content_index: int, audio_end_ms: int) -> ItemTruncate:
    """Cut the assistant's audio item at what the user heard. Always best-effort: the
    server may already have cut it shorter, which is all we asked."""
    return ItemTruncate(
        type="conversation.item.truncate",
        event_id=ids.client_event_id(best_effort=True),
        item_id=item_id,
        content_index=content_index,
        audio_end_ms=audio_end_ms,
    )


def input_audio_buffer_commit() -> ClientEvent:
    """Close the user's turn (turn detection off)."""
    return _envelope("input_audio_buffer.commit")


def input_audio_buffer_clear() -> ClientEvent:
    """Begin a user turn with an empty input buffer (turn detection off)."""
    return _envelope("input_audio_buffer.clear")


def encode(event: ClientEvent | dict[str, Any]) -> str:
    """The event as the wire carries it; refuses (``EventTooLarge``) what the channel would
    drop."""
    data = json.dumps(event)
    size = len(data.encode())
    if size > MAX_EVENT_BYTES:
        raise EventTooLarge(
            f"The event is {size} bytes; the data channel takes at most {MAX_EVENT_BYTES}. "
            "Shorten the instructions or split the message."
        )
    return data
