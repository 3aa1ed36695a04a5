"""The local server's view of a GA session: validates what a client sends the way OpenAI does
(same error codes, same ``param`` paths) and keeps the full effective session it reports in
``session.created`` / ``session.updated``.

``temperature`` is accepted here as a documented extension; OpenAI's GA models refuse it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from voicelab.local import errors
from voicelab.local.errors import RealtimeError
from voicelab.protocol.defaults import (
    DEFAULT_MODEL,
    DEFAULT_TEMPERATURE,
    DEFAULT_VOICE,
    EAGERNESS,
    NOISE_REDUCTION_TYPES,
    OUTPUT_MODALITIES,
    SEMANTIC_VAD_DEFAULTS,
    SERVER_VAD_DEFAULTS,
    TURN_DETECTION_TYPES,
    VOICES,
)
from voicelab.protocol.ids import new_id
from voicelab.protocol.limits import RANGES

Validator = Callable[[Any, str], Any]


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise errors.invalid_type(param, "a string", value)
    return value


def _boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise errors.invalid_type(param, "a boolean", value)
    return value


def _bounded(kind: str, lo: float, hi: float, integral: bool) -> Validator:
    """A number within [lo, hi], refused with OpenAI's codes (``decimal_below_min_value`` …)."""
    article = "an" if kind == "integer" else "a"

    def check(value: Any, param: str) -> Any:
        wrong = isinstance(value, bool) or not isinstance(value, int if integral else (int, float))
        if wrong:
            raise errors.invalid_type(param, f"{article} {kind}", value)
        for beyond, side, limit, sign in (
            (value < lo, "below minimum", lo, ">="),
            (value > hi, "above maximum", hi, "<="),
        ):
            if beyond:
                raise RealtimeError(
                    f"Invalid '{param}': {kind} {side} value. Expected a value {sign} {limit}, "
                    f"but got {value} instead.",
                    f"{kind}_{side.split()[0]}_{'min' if sign == '>=' else 'max'}_value",
                    param,
                )
        return value if integral else float(value)

    return check


def _number(name: str) -> Validator:
    lo, hi = RANGES[name]
    return _bounded("decimal", lo, hi, integral=False)


def _integer(name: str) -> Validator:
    lo, hi = RANGES[name]
    return _bounded("integer", int(lo), int(hi), integral=True)


def _one_of(options: tuple[str, ...]) -> Validator:
    def check(value: Any, param: str) -> str:
        if value not in options:
            shown = ", ".join(f"'{o}'" for o in options)
            raise errors.invalid_value(param, f"'{value}'. Supported values are: {shown}.")
        return value

    return check


def _nullable(inner: Validator) -> Validator:
    def check(value: Any, param: str) -> Any:
        return None if value is None else inner(value, param)

    return check


def _anything(value: Any, param: str) -> Any:
    return value


def _max_tokens(value: Any, param: str) -> int | str:
    if value == "inf":
        return value
    if isinstance(value, str):
        raise errors.invalid_value(param, f"'{value}'. Expected an integer or 'inf'.")
    return _integer("max_output_tokens")(value, param)


def _modalities(value: Any, param: str) -> list[str]:
    if not isinstance(value, list):
        raise errors.invalid_type(param, "an array", value)
    if value not in [[m] for m in OUTPUT_MODALITIES]:
        raise errors.invalid_value(param, "expected ['audio'] or ['text'].")
    return list(value)


def _obj(fields: dict[str, Validator], required: tuple[str, ...] = ()) -> Validator:
    def check(value: Any, param: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise errors.invalid_type(param, "an object", value)
        for key in value:
            if key not in fields:
                raise errors.unknown_parameter(f"{param}.{key}")
        for key in required:
            if key not in value:
                raise errors.missing_parameter(f"{param}.{key}")
        return {key: fields[key](v, f"{param}.{key}") for key, v in value.items()}

    return check


_SERVER_VAD = _obj(
    {
        "type": _anything,
        "threshold": _number("threshold"),
        "prefix_padding_ms": _integer("prefix_padding_ms"),
        "silence_duration_ms": _integer("silence_duration_ms"),
        "idle_timeout_ms": _nullable(_integer("idle_timeout_ms")),
        "create_response": _boolean,
        "interrupt_response": _boolean,
    }
)
_SEMANTIC_VAD = _obj(
    {
        "type": _anything,
        "eagerness": _one_of(EAGERNESS),
        "create_response": _boolean,
        "interrupt_response": _boolean,
    }
)


def _turn_detection(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.invalid_type(param, "an object", value)
    kind = value.get("type")
    if kind is None:
        raise errors.missing_parameter(f"{param}.type")
    if kind == "server_vad":
        return _SERVER_VAD(value, param)
    if kind == "semantic_vad":
        return _SEMANTIC_VAD(value, param)
    raise errors.invalid_value(
        f"{param}.type",
        f"'{kind}'. Supported values are: "
        + ", ".join(f"'{t}'" for t in TURN_DETECTION_TYPES)
        + ".",
    )


_FORMAT = _obj({"type": _one_of(("audio/pcm", "audio/pcmu", "audio/pcma")), "rate": _anything})

_SESSION = _obj(
    {
        "type": _one_of(("realtime",)),
        "model": _string,
        "instructions": _string,
        "output_modalities": _modalities,
        "max_output_tokens": _max_tokens,
        "temperature": _number("temperature"),
        "tools": _anything,
        "tool_choice": _anything,
        "tracing": _anything,
        "truncation": _anything,
        "prompt": _anything,
        "include": _anything,
        "audio": _obj(
            {
                "input": _obj(
                    {
                        "format": _FORMAT,
                        "noise_reduction": _nullable(
                            _obj({"type": _one_of(NOISE_REDUCTION_TYPES)}, ("type",))
                        ),
                        "transcription": _nullable(
                            _obj(
                                {"model": _string, "language": _string, "prompt": _string},
                                ("model",),
                            )
                        ),
                        "turn_detection": _turn_detection,
                    }
                ),
                "output": _obj(
                    {"format": _FORMAT, "voice": _one_of(VOICES), "speed": _number("speed")}
                ),
            }
        ),
    },
    required=("type",),
)

DEFAULT_INSTRUCTIONS = "You are a helpful, friendly voice assistant. Keep your answers short."


def default_session(model: str = DEFAULT_MODEL) -> dict[str, Any]:
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 0,
        "include": None,
        "temperature": DEFAULT_TEMPERATURE,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": dict(pcm), "voice": DEFAULT_VOICE, "speed": 1.0},
        },
    }


class Session:
    """The effective session of one call."""

    def __init__(self, max_duration_s: float) -> None:
        self.data = default_session()
        self.data["expires_at"] = int(time.time() + max_duration_s)

    def apply(self, update: Any, *, audio_output_started: bool = False, initial: bool = False):
        """Validate a session object and merge it in; raises RealtimeError and changes nothing
        if any part is refused."""
        clean = _SESSION(update, "session")
        if not initial and "model" in clean and clean["model"] != self.data["model"]:
            raise RealtimeError(
                "Cannot update a session's model after the call has started.",
                "invalid_value",
                "session.model",
            )
        voice = clean.get("audio", {}).get("output", {}).get("voice")
        if audio_output_started and voice is not None and voice != self.voice:
            raise RealtimeError(
                "Cannot update a conversation's voice if assistant audio is present.",
                "cannot_update_voice",
                "session.audio.output.voice",
            )
        merged = copy.deepcopy(self.data)
        for key, value in clean.items():
            if key == "audio":
                for side, fields in value.items():
                    for name, v in fields.items():
                        merged["audio"][side][name] = self._merge_field(
                            name, merged["audio"][side].get(name), v
                        )
            else:
                merged[key] = value
        self.data = merged
        return self.data

    @staticmethod
    def _merge_field(name: str, current: Any, new: Any) -> Any:
        if name == "turn_detection" and new is not None:
            same_type = isinstance(current, dict) and current.get("type") == new["type"]
            base = (
                current
                if same_type
                else (SERVER_VAD_DEFAULTS if new["type"] == "server_vad" else SEMANTIC_VAD_DEFAULTS)
            )
            return {**base, **new}
        return new

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        return self.data["audio"]["input"]["turn_detection"]

    @property
    def transcription(self) -> dict[str, Any] | None:
        return self.data["audio"]["input"]["transcription"]

    @property
    def voice(self) -> str:
        return self.data["audio"]["output"]["voice"]

    @property
    def speed(self) -> float:
        return self.data["audio"]["output"]["speed"]

    @property
    def temperature(self) -> float:
        return self.data["temperature"]

    @property
    def instructions(self) -> str:
        return self.data["instructions"]

    @property
    def modalities(self) -> list[str]:
        return self.data["output_modalities"]

    @property
    def max_output_tokens(self) -> int | None:
        value = self.data["max_output_tokens"]
        return None if value == "inf" else int(value)
