"""The GA Realtime session as one typed value: what the sidebar edits, what the call request
carries, and which backend accepts which field.

Validation happens here, before a call is attempted, so a user reads "Speed must be between
0.25 and 1.5" instead of an HTTP 400 from the far side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
EAGERNESS = ("auto", "low", "medium", "high")
TURN_DETECTION = ("server_vad", "semantic_vad", "off")
NOISE_REDUCTION = ("off", "near_field", "far_field")
MODALITIES = ("audio", "text")
OPENAI_MODELS = (
    "gpt-realtime",
    "gpt-realtime-1.5",
    "gpt-realtime-2",
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-mini",
)
TRANSCRIPTION_MODELS = ("gpt-4o-mini-transcribe", "gpt-4o-transcribe", "whisper-1")
MAX_OUTPUT_TOKENS = 4096
#: What a backend that has temperature uses when none is set (OpenAI's beta default, which
#: the local server keeps); a cleared temperature is sent as this.
DEFAULT_TEMPERATURE = 0.8

Backend = Literal["local", "openai"]

#: Fields a backend refuses, with the one-line reason the sidebar shows. Everything not listed
#: here is accepted by every backend: this table is the only place that knows the difference.
REFUSED_FIELDS: dict[Backend, dict[str, str]] = {
    "openai": {
        "temperature": "OpenAI's GA Realtime models have no temperature setting "
        "(sending one is refused with unknown_parameter).",
    },
    "local": {},
}


class ConfigError(ValueError):
    """A setting out of range; ``str()`` names the setting and the allowed range."""


def accepts(backend: Backend, field: str) -> bool:
    return field not in REFUSED_FIELDS[backend]


def refusal_reason(backend: Backend, field: str) -> str | None:
    return REFUSED_FIELDS[backend].get(field)


def _check_range(label: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(f"{label} must be between {lo:g} and {hi:g} (got {value!r}).")


def _check_choice(label: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{label} must be one of {', '.join(options)} (got {value!r}).")


@dataclass(frozen=True)
class SessionConfig:
    """Defaults are OpenAI's, except that user speech is transcribed (OpenAI's default is no
    transcription, which would leave the "You" panel empty)."""

    model: str = "gpt-realtime"
    instructions: str = ""
    voice: str = "alloy"
    speed: float = 1.0
    output_modality: str = "audio"
    turn_detection: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    eagerness: str = "auto"
    create_response: bool = True
    interrupt_response: bool = True
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    transcription_language: str = ""
    noise_reduction: str = "off"
    max_output_tokens: int | None = None  # None = "inf"
    temperature: float | None = None  # None = the backend's default; never sent then

    def validate(self) -> SessionConfig:
        """Returns self, or raises ``ConfigError`` for the first setting out of range."""
        if not self.model.strip():
            raise ConfigError("Choose a model.")
        _check_choice("Voice", self.voice, VOICES)
        _check_range("Speed", self.speed, 0.25, 1.5)
        _check_choice("Output", self.output_modality, MODALITIES)
        _check_choice("Turn detection", self.turn_detection, TURN_DETECTION)
        _check_range("VAD threshold", self.threshold, 0.0, 1.0)
        _check_range("Prefix padding (ms)", self.prefix_padding_ms, 0, 5000)
        _check_range("Silence duration (ms)", self.silence_duration_ms, 0, 10000)
        if self.idle_timeout_ms is not None:
            _check_range("Idle timeout (ms)", self.idle_timeout_ms, 5000, 30000)
        _check_choice("Eagerness", self.eagerness, EAGERNESS)
        _check_choice("Noise reduction", self.noise_reduction, NOISE_REDUCTION)
        if self.max_output_tokens is not None:
            _check_range("Max output tokens", self.max_output_tokens, 1, MAX_OUTPUT_TOKENS)
        if self.temperature is not None:
            _check_range("Temperature", self.temperature, 0.0, 2.0)
        return self

    def replace(self, **changes: Any) -> SessionConfig:
        return dataclasses.replace(self, **changes)

    def turn_detection_json(self) -> dict[str, Any] | None:
        common = {
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.turn_detection == "server_vad":
            return {
                "type": "server_vad",
                "threshold": self.threshold,
                "prefix_padding_ms": self.prefix_padding_ms,
                "silence_duration_ms": self.silence_duration_ms,
                "idle_timeout_ms": self.idle_timeout_ms,
                **common,
            }
        if self.turn_detection == "semantic_vad":
            return {"type": "semantic_vad", "eagerness": self.eagerness, **common}
        return None

    def to_session(self, backend: Backend) -> dict[str, Any]:
        """The ``session`` part of ``POST /realtime/calls``; only fields ``backend`` accepts."""
        self.validate()
        transcription: dict[str, Any] | None = None
        if self.transcription_model:
            transcription = {"model": self.transcription_model}
            if self.transcription_language.strip():
                transcription["language"] = self.transcription_language.strip()
        session: dict[str, Any] = {
            "type": "realtime",
            "model": self.model,
            "output_modalities": [self.output_modality],
            "max_output_tokens": self.max_output_tokens or "inf",
            "audio": {
                "input": {
                    "transcription": transcription,
                    "noise_reduction": (
                        None if self.noise_reduction == "off" else {"type": self.noise_reduction}
                    ),
                    "turn_detection": self.turn_detection_json(),
                },
                "output": {"voice": self.voice, "speed": self.speed},
            },
        }
        if self.instructions.strip():
            session["instructions"] = self.instructions
        if self.temperature is not None and accepts(backend, "temperature"):
            session["temperature"] = self.temperature
        return session


#: Fields a live ``session.update`` can never change; a new call is needed.
RECONNECT_FIELDS = frozenset({"model"})
#: Fields that can change live only until the model has spoken in the call.
LOCKED_AFTER_AUDIO = frozenset({"voice"})
#: Fields OpenAI changes only between responses (refused while one runs): they wait.
BETWEEN_RESPONSES = frozenset({"speed"})


def changed_fields(old: SessionConfig, new: SessionConfig) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in dataclasses.fields(SessionConfig)
        if getattr(old, f.name) != getattr(new, f.name)
    )


def session_update(old: SessionConfig, new: SessionConfig, backend: Backend) -> dict[str, Any]:
    """The ``session`` of a ``session.update`` carrying only what changed from ``old`` to
    ``new`` (empty when nothing did). Turn detection, transcription and noise reduction go
    as whole objects, as the server replaces them whole; a cleared instruction is sent as
    ``""`` and a cleared temperature as ``DEFAULT_TEMPERATURE``. Fields needing a reconnect
    are left out: the caller decides what to do."""
    before, after = old.to_session(backend), new.to_session(backend)
    update: dict[str, Any] = {}
    for key in ("instructions", "output_modalities", "max_output_tokens", "temperature"):
        if key in after and before.get(key) != after[key]:
            update[key] = after[key]
    if "instructions" in before and "instructions" not in after:
        update["instructions"] = ""
    if "temperature" in before and "temperature" not in after:
        update["temperature"] = DEFAULT_TEMPERATURE  # cleared: back to the default
    for side, names in (
        ("input", ("transcription", "noise_reduction", "turn_detection")),
        ("output", ("voice", "speed")),
    ):
        for name in names:
            if before["audio"][side][name] != after["audio"][side][name]:
                update.setdefault("audio", {}).setdefault(side, {})[name] = after["audio"][side][
                    name
                ]
    return {"type": "realtime", **update} if update else {}
