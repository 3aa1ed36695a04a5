"""The items of one call's conversation, in order, in OpenAI's GA item shape.

The responder reads it as plain turns; usage counts its tokens; truncation rewrites an
assistant item to what the user actually heard.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from voicelab.local import errors
from voicelab.local.errors import RealtimeError
from voicelab.local.responder import Turn
from voicelab.local.synthesizer import Speech
from voicelab.local.usage import Usage, assistant_audio_tokens, text_tokens, user_audio_tokens
from voicelab.protocol.ids import new_id
from voicelab.protocol.items import message_item

MAX_ITEMS = 500  # oldest items are dropped past this: memory stays bounded on long calls

_USER_CONTENT = ("input_text", "input_audio")
_ASSISTANT_CONTENT = ("output_text", "output_audio", "text")


@dataclass
class _Entry:
    item: dict[str, Any]
    audio_ms: int = 0  # user or assistant audio held by the item
    heard: str | None = None  # what the recognizer made of user audio, shown or not
    speech: Speech | None = field(default=None, repr=False)


class Conversation:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}  # insertion order is conversation order

    @property
    def last_id(self) -> str | None:
        return next(reversed(self._entries), None)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._entries

    def get(self, item_id: str) -> dict[str, Any]:
        entry = self._entries.get(item_id)
        if entry is None:
            raise RealtimeError(
                f"Item with item_id not found: {item_id}", "item_not_found", "item_id"
            )
        return entry.item

    def add(
        self,
        item: dict[str, Any],
        previous_item_id: str | None = None,
        *,
        audio_ms: int = 0,
        speech: Speech | None = None,
        heard: str | None = None,
    ) -> str | None:
        """Insert after ``previous_item_id`` (default: at the end); returns the id before it."""
        before = self.last_id
        entry = _Entry(item, audio_ms=audio_ms, heard=heard, speech=speech)
        if previous_item_id is None or previous_item_id == before:
            self._entries[item["id"]] = entry
        else:
            if previous_item_id not in self._entries and previous_item_id != "root":
                raise RealtimeError(
                    f"Previous item with id {previous_item_id} not found.",
                    "previous_item_not_found",
                    "previous_item_id",
                )
            rebuilt: dict[str, _Entry] = {}
            if previous_item_id == "root":
                rebuilt[item["id"]] = entry
            for key, value in self._entries.items():
                rebuilt[key] = value
                if key == previous_item_id:
                    rebuilt[item["id"]] = entry
            self._entries = rebuilt
            before = None if previous_item_id == "root" else previous_item_id
        while len(self._entries) > MAX_ITEMS:
            del self._entries[next(iter(self._entries))]
        return before

    def update(self, item_id: str, *, audio_ms: int | None = None, speech: Speech | None = None):
        entry = self._entries[item_id]
        if audio_ms is not None:
            entry.audio_ms = audio_ms
        if speech is not None:
            entry.speech = speech

    def speech(self, item_id: str) -> Speech | None:
        """The synthesized audio of an assistant item (tests compare it with what played)."""
        entry = self._entries.get(item_id)
        return None if entry is None else entry.speech

    def audio_ms(self, item_id: str | None, default: int) -> int:
        """The audio an item holds now (``default`` for an item deleted meanwhile)."""
        entry = self._entries.get(item_id) if item_id is not None else None
        return default if entry is None else entry.audio_ms

    def delete(self, item_id: str) -> None:
        self.get(item_id)
        del self._entries[item_id]

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item to ``audio_end_ms``: its transcript keeps only the
        words whose audio had started by then."""
        entry = self._entries.get(item_id)
        if entry is None:
            raise RealtimeError(
                f"Item with item_id not found: {item_id}",
                "item_truncate_invalid_item_id",
                "item_id",
            )
        item = entry.item
        content = item.get("content", [])
        if item.get("role") != "assistant" or content_index >= len(content):
            raise errors.invalid_value("content_index", "only assistant audio can be truncated.")
        part = content[content_index]
        if part.get("type") != "output_audio":
            raise errors.invalid_value("content_index", "only assistant audio can be truncated.")
        if audio_end_ms > entry.audio_ms:
            raise RealtimeError(
                f"Audio content of {entry.audio_ms}ms is already shorter than {audio_end_ms}ms",
                "invalid_value",
                "audio_end_ms",
            )
        if entry.speech is not None:
            part["transcript"] = entry.speech.heard_until(audio_end_ms)
        entry.audio_ms = audio_end_ms

    def turns(self, before: str | None = None) -> tuple[Turn, ...]:
        """The conversation as plain text turns, up to (not including) ``before``."""
        turns = []
        for item_id, entry in self._entries.items():
            if item_id == before:
                break
            role = entry.item.get("role")
            if entry.item.get("type") != "message" or role not in ("user", "assistant"):
                continue
            turns.append(
                Turn(role, entry.heard if entry.heard is not None else _text_of(entry.item))
            )
        return tuple(turns)

    def input_usage(self, instructions: str) -> Usage:
        """What a response reads: the instructions and every item so far."""
        usage = Usage(input_text=text_tokens(instructions))
        for entry in self._entries.values():
            item = entry.item
            for part in item.get("content", []):
                kind = part.get("type")
                if kind in ("input_text", "output_text", "text"):
                    usage.input_text += text_tokens(part.get("text") or "")
            if item.get("role") == "user":
                usage.input_audio += user_audio_tokens(entry.audio_ms)
            elif item.get("role") == "assistant":
                usage.input_audio += assistant_audio_tokens(entry.audio_ms)
        return usage

    def snapshot(self, item_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.get(item_id))


def _text_of(item: dict[str, Any]) -> str:
    parts = []
    for part in item.get("content", []):
        parts.append(part.get("text") or part.get("transcript") or "")
    return " ".join(p for p in parts if p)


def server_item(
    role: str, content: list[dict[str, Any]], status: str = "completed"
) -> dict[str, Any]:
    """A message item as the server keeps and reports it: with its id, object and status."""
    return {
        "object": "realtime.item",
        "status": status,
        **message_item(role, content, new_id("item")),
    }


def validate_client_item(item: Any) -> dict[str, Any]:
    """Check a ``conversation.item.create`` item; returns a clean copy with an id."""
    if not isinstance(item, dict):
        raise errors.invalid_type("item", "an object", item)
    kind = item.get("type")
    if kind is None:
        raise errors.missing_parameter("item.type")
    if kind != "message":
        raise errors.invalid_value(
            "item.type", f"'{kind}'. The local server supports 'message' items."
        )
    role = item.get("role")
    allowed = {
        "user": _USER_CONTENT,
        "assistant": _ASSISTANT_CONTENT,
        "system": ("input_text",),
    }
    if role not in allowed:
        raise errors.invalid_value("item.role", f"'{role}'. Expected user, assistant or system.")
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise errors.missing_parameter("item.content")
    clean = []
    for i, part in enumerate(content):
        param = f"item.content[{i}]"
        if not isinstance(part, dict):
            raise errors.invalid_type(param, "an object", part)
        ptype = part.get("type")
        if ptype not in allowed[role]:
            raise errors.invalid_value(f"{param}.type", f"'{ptype}' is not allowed for {role}.")
        if ptype in ("input_text", "output_text", "text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise errors.missing_parameter(f"{param}.text")
            clean.append({"type": ptype, "text": text})
        else:
            clean.append({"type": ptype, "transcript": part.get("transcript")})
    item_id = item.get("id")
    if item_id is not None and not isinstance(item_id, str):
        raise errors.invalid_type("item.id", "a string", item_id)
    made = server_item(role, clean)
    if item_id:
        made["id"] = item_id
    return made
