"""Named sets of settings, and settings as a share link's query.

The built-in presets each show a clearly different way of taking turns. A link holds only
the settings that differ from the defaults, as plain query parameters named after the
``SessionConfig`` fields; never a key, never anything else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

from voicelab.protocol.session import ConfigError, SessionConfig

BUILT_IN: dict[str, dict[str, Any]] = {
    "Snappy turn-taking": {
        "turn_detection": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 200,
        "silence_duration_ms": 250,
    },
    "Patient listener": {"turn_detection": "semantic_vad", "eagerness": "low"},
    "Noisy room": {
        "turn_detection": "server_vad",
        "threshold": 0.8,
        "silence_duration_ms": 700,
        "noise_reduction": "far_field",
    },
    "Push-to-talk": {"turn_detection": "off"},
}

_DEFAULTS = SessionConfig()
_HINTS = get_type_hints(SessionConfig)
_FIELDS = [f.name for f in dataclasses.fields(SessionConfig)]


def as_preset(config: SessionConfig) -> dict[str, Any]:
    """Every setting of ``config``, as a saved preset holds them."""
    return {name: getattr(config, name) for name in _FIELDS}


def apply(base: SessionConfig, preset: dict[str, Any]) -> SessionConfig:
    """``base`` with the preset's settings (a preset is a partial config)."""
    return base.replace(**preset).validate()


def to_query(config: SessionConfig) -> dict[str, str]:
    """The settings that differ from the defaults, as query parameters."""
    query: dict[str, str] = {}
    for name in _FIELDS:
        value = getattr(config, name)
        if value != getattr(_DEFAULTS, name):
            query[name] = (
                "none"
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
    return query


def _parse(name: str, raw: str) -> Any:
    kind = _HINTS[name]
    if raw == "none" and "None" in str(kind):
        return None
    if "bool" in str(kind):
        if raw not in ("true", "false"):
            raise ValueError
        return raw == "true"
    if "float" in str(kind):
        return float(raw)
    if "int" in str(kind):
        return int(raw)
    return raw


def from_query(query: dict[str, str]) -> SessionConfig:
    """Settings from a share link; unknown parameters are ignored, a bad value is refused
    with one sentence (``ConfigError``)."""
    changes: dict[str, Any] = {}
    for name, raw in query.items():
        if name not in _HINTS:
            continue
        try:
            changes[name] = _parse(name, raw)
        except ValueError as exc:
            raise ConfigError(f"The link's {name} is not a valid value ({raw!r}).") from exc
    return _DEFAULTS.replace(**changes).validate()
