"""OpenAI's error shape, for HTTP bodies and ``error`` events alike.

Clients branch on ``code`` and show ``message``; matching OpenAI's values keeps the app's
error handling honest when it talks to the local server instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RealtimeError(Exception):
    message: str
    code: str | None = None
    param: str | None = None
    type: str = "invalid_request_error"

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        """The JSON body of an HTTP error response."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def event(self, event_id: str, client_event_id: str | None = None) -> dict[str, Any]:
        """A server ``error`` event; the call stays open after it."""
        return {
            "type": "error",
            "event_id": event_id,
            "error": {
                "message": self.message,
                "type": self.type,
                "code": self.code,
                "param": self.param,
                "event_id": client_event_id,
            },
        }


def unknown_parameter(param: str) -> RealtimeError:
    return RealtimeError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)


def missing_parameter(param: str) -> RealtimeError:
    return RealtimeError(
        f"Missing required parameter: '{param}'.", "missing_required_parameter", param
    )


def invalid_type(param: str, expected: str, got: object) -> RealtimeError:
    return RealtimeError(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(got)} instead.",
        "invalid_type",
        param,
    )


def invalid_value(param: str, message: str) -> RealtimeError:
    return RealtimeError(f"Invalid value for '{param}': {message}", "invalid_value", param)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
