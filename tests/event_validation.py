"""Validate server events against the official ``openai.types.realtime`` models, each with its
own class (validating against the whole union reports hundreds of errors for one bad event)."""

from __future__ import annotations

import typing
from typing import Any

from openai.types.realtime import RealtimeServerEvent
from pydantic import BaseModel, ValidationError


def _event_classes() -> dict[str, type[BaseModel]]:
    union = typing.get_args(RealtimeServerEvent)
    if len(union) and not hasattr(union[0], "model_fields"):  # Annotated[Union[...], ...]
        union = typing.get_args(union[0])
    classes = {}
    for cls in union:
        literal = cls.model_fields["type"].annotation
        classes[typing.get_args(literal)[0]] = cls
    return classes


EVENT_CLASSES = _event_classes()


def validation_problem(event: dict[str, Any]) -> str | None:
    """None when the event is a known type and validates; otherwise what is wrong."""
    kind = event.get("type")
    cls = EVENT_CLASSES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        return f"unknown server event type {kind!r}"
    try:
        cls.model_validate(event)
    except ValidationError as exc:
        return f"{kind}: {exc}"
    return None
