"""Conversation items in the GA shape, built in one place for both ends: the client's typed
and carried turns, and the items the local server keeps and reports."""

from __future__ import annotations

from typing import Any, Literal

Role = Literal["user", "assistant", "system"]


def text_content(role: str, text: str) -> dict[str, Any]:
    """A text part: ``input_text`` for what the user (or system) says, ``output_text`` for
    what the assistant said."""
    return {"type": "output_text" if role == "assistant" else "input_text", "text": text}


def message_item(
    role: str, content: list[dict[str, Any]], item_id: str | None = None
) -> dict[str, Any]:
    """A ``message`` item as a client sends it in ``conversation.item.create``."""
    item: dict[str, Any] = {"type": "message", "role": role}
    if item_id is not None:
        item["id"] = item_id
    item["content"] = content
    return item


def text_message(role: str, text: str, item_id: str | None = None) -> dict[str, Any]:
    """A typed turn, or an earlier turn carried into a new call."""
    return message_item(role, [text_content(role, text)], item_id)
