"""The GA Realtime session as one typed value: what the sidebar edits, what the call request
carries, and what changes between two of them.

Validation happens here, before a call is attempted, so a user reads "Speed must be between
0.25 and 1.5" instead of an HTTP 400 from the far side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from voicelab.protocol import defaults
from voicelab.protocol.backends import Backend, accepts
from voicelab.protocol.defaults import (
    DEFAULT_TEMPERATURE,
    EAGERNESS,
    NOISE_REDUCTION_TYPES,
    OUTPUT_MODALITIES,
    SEMANTIC_VAD_DEFAULTS,
    SERVER_VAD_DEFAULTS,
    TURN_DETECTION_TYPES,
    VOICES,
)
from voicelab.protocol.limits import RANGES

#: The settings' own values for "none" where the session has null.
TURN_DETECTION = (*TURN_DETECTION_TYPES, "off")
NOISE_REDUCTION = ("off", *NOISE_REDUCTION_TYPES)


class ConfigError(ValueError):
    """A setting out of range; ``str()`` names the setting and the allowed range."""


def _check_range(label: str, name: str, value: float) -> None:
    lo, hi = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(f"{label} must be between {lo:g} and {hi:g} (got {value!r}).")


def _check_choice(label: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{label} must be one of {', '.join(options)} (got {value!r}).")


@dataclass(frozen=True)
class SessionConfig:
    """Defaults are OpenAI's, except that user speech is transcribed (OpenAI's default is no
    transcription, which would leave the user's side of the transcript empty)."""

    model: str = defaults.DEFAULT_MODEL
    instructions: str = ""
    voice: str = defaults.DEFAULT_VOICE
    speed: float = 1.0
    output_modality: str = "audio"
    turn_detection: str = "server_vad"
    threshold: float = SERVER_VAD_DEFAULTS["threshold"]
    prefix_padding_ms: int = SERVER_VAD_DEFAULTS["prefix_padding_ms"]
    silence_duration_ms: int = SERVER_VAD_DEFAULTS["silence_duration_ms"]
    idle_timeout_ms: int | None = SERVER_VAD_DEFAULTS["idle_timeout_ms"]
    eagerness: str = SEMANTIC_VAD_DEFAULTS["eagerness"]
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
        _check_range("Speed", "speed", self.speed)
        _check_choice("Output", self.output_modality, OUTPUT_MODALITIES)
        _check_choice("Turn detection", self.turn_detection, TURN_DETECTION)
        _check_range("VAD threshold", "threshold", self.threshold)
        _check_range("Prefix padding (ms)", "prefix_padding_ms", self.prefix_padding_ms)
        _check_range("Silence duration (ms)", "silence_duration_ms", self.silence_duration_ms)
        if self.idle_timeout_ms is not None:
            _check_range("Idle timeout (ms)", "idle_timeout_ms", self.idle_timeout_ms)
        _check_choice("Eagerness", self.eagerness, EAGERNESS)
        _check_choice("Noise reduction", self.noise_reduction, NOISE_REDUCTION)
        if self.max_output_tokens is not None:
            _check_range("Max output tokens", "max_output_tokens", self.max_output_tokens)
        if self.temperature is not None:
            _check_range("Temperature", "temperature", self.temperature)
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


def session_changes(old: SessionConfig, new: SessionConfig, backend: Backend) -> dict[str, Any]:
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
