"""The sidebar: backend, key, and every session setting. Returns what the user chose; the
values apply at the next Start.

Each widget's key is ``cfg.<SessionConfig field>``, so a setting has one name everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components import backend as backends
from voicelab.session_config import (
    EAGERNESS,
    NOISE_REDUCTION,
    OPENAI_MODELS,
    TRANSCRIPTION_MODELS,
    VOICES,
    ConfigError,
    SessionConfig,
    refusal_reason,
)
from voicelab.session_config import Backend as BackendName

BACKENDS: dict[str, BackendName] = {"Local (offline)": "local", "OpenAI": "openai"}
TURN_LABELS = {"server_vad": "Server VAD", "semantic_vad": "Semantic VAD", "off": "Off (manual)"}
DEFAULTS = SessionConfig()


@dataclass(frozen=True)
class Choice:
    backend: BackendName
    config: SessionConfig | None  # None when a setting is out of range
    problem: str | None = None
    half_duplex: bool = False


def _k(name: str) -> str:
    return f"cfg.{name}"


def render() -> Choice:
    sb = st.sidebar
    sb.header("Session")
    has_key = backends.openai_key().key is not None
    label = sb.radio(
        "Backend",
        list(BACKENDS),
        index=1 if has_key else 0,
        key="backend",
        help="Local runs offline in this app; OpenAI needs an API key.",
    )
    backend = BACKENDS[label]
    if backend == "openai":
        sb.text_input(
            "OpenAI API key",
            type="password",
            key=backends.KEY_FIELD,
            on_change=backends.remember_typed_key,
            help="Stays on the server; never shown again, logged or exported.",
        )
        sb.caption(f"Key: {backends.openai_key().label} · endpoint {backends.openai_url()}")
    else:
        sb.caption("Offline: VAD, recognition and speech run on this server. No key needed.")

    model = sb.selectbox("Model", OPENAI_MODELS, key=_k("model"))
    voice = sb.selectbox("Voice", VOICES, key=_k("voice"))
    instructions = sb.text_area(
        "Instructions", key=_k("instructions"), placeholder="The server's default if empty."
    )

    sb.subheader("Turn detection")
    turn = sb.radio(
        "Mode",
        list(TURN_LABELS),
        format_func=TURN_LABELS.get,
        key=_k("turn_detection"),
        horizontal=True,
    )
    threshold, padding, silence, idle, eagerness = (
        DEFAULTS.threshold,
        DEFAULTS.prefix_padding_ms,
        DEFAULTS.silence_duration_ms,
        DEFAULTS.idle_timeout_ms,
        DEFAULTS.eagerness,
    )
    if turn == "server_vad":
        threshold = sb.slider(
            "Threshold", 0.0, 1.0, DEFAULTS.threshold, 0.05, key=_k("threshold"),
            help="Higher needs louder speech to count as speech.",
        )  # fmt: skip
        padding = sb.slider(
            "Prefix padding (ms)", 0, 1000, DEFAULTS.prefix_padding_ms, 50,
            key=_k("prefix_padding_ms"),
        )  # fmt: skip
        silence = sb.slider(
            "Silence duration (ms)", 100, 2000, DEFAULTS.silence_duration_ms, 50,
            key=_k("silence_duration_ms"), help="How long a pause ends your turn.",
        )  # fmt: skip
        idle_on = sb.checkbox("Idle timeout", key="cfg.idle_timeout_on")
        if idle_on:
            idle = sb.slider(
                "Idle timeout (ms)", 5000, 30000, 10000, 1000, key=_k("idle_timeout_ms")
            )
    elif turn == "semantic_vad":
        eagerness = sb.select_slider("Eagerness", EAGERNESS, key=_k("eagerness"))

    sb.subheader("Voice and output")
    speed = sb.slider("Speed", 0.25, 1.5, DEFAULTS.speed, 0.05, key=_k("speed"))
    text_only = sb.toggle("Text replies only", key="cfg.text_only")
    tokens_on = sb.checkbox("Limit output tokens", key="cfg.max_output_tokens_on")
    max_tokens = (
        sb.number_input("Max output tokens", 1, 4096, 512, key=_k("max_output_tokens"))
        if tokens_on
        else None
    )
    reason = refusal_reason(backend, "temperature")
    temp_on = sb.checkbox("Set temperature", key="cfg.temperature_on", disabled=reason is not None)
    temperature = sb.slider(
        "Temperature", 0.0, 2.0, 0.8, 0.05, key=_k("temperature"),
        disabled=reason is not None or not temp_on,
    )  # fmt: skip
    if reason:
        sb.caption(reason)

    sb.subheader("Input")
    transcription = sb.selectbox(
        "Transcription model",
        (*TRANSCRIPTION_MODELS, "off"),
        key=_k("transcription_model"),
        help="Without one, the You panel stays empty.",
    )
    noise = sb.selectbox("Noise reduction", NOISE_REDUCTION, key=_k("noise_reduction"))

    sb.subheader("Echo")
    sb.caption("Headphones are best: on speakers the model can hear, and answer, itself.")
    sb.toggle(
        "Echo cancellation",
        value=True,
        key="echo_cancellation",
        help="The browser's own; takes effect at the next Start.",
    )
    half_duplex = sb.toggle(
        "Half-duplex",
        key="half_duplex",
        help="Mute the microphone while the model speaks (speakers without echo "
        "cancellation). You cannot interrupt it by talking then; use Interrupt.",
    )

    try:
        config = SessionConfig(
            model=model,
            instructions=instructions,
            voice=voice,
            speed=float(speed),
            output_modality="text" if text_only else "audio",
            turn_detection=turn,
            threshold=float(threshold),
            prefix_padding_ms=int(padding),
            silence_duration_ms=int(silence),
            idle_timeout_ms=int(idle) if idle is not None else None,
            eagerness=eagerness,
            transcription_model=None if transcription == "off" else transcription,
            noise_reduction=noise,
            max_output_tokens=int(max_tokens) if max_tokens is not None else None,
            temperature=float(temperature) if temp_on and reason is None else None,
        ).validate()
    except ConfigError as exc:
        sb.error(str(exc))
        return Choice(backend, None, str(exc), half_duplex)
    sb.caption(
        "During a call, changes apply live; the model, and a voice the model has already "
        "spoken in, take effect at the next Start."
    )
    return Choice(backend, config, half_duplex=half_duplex)


#: How a setting that the server refused is put back in its control.
_WIDGET_VALUE = {
    "transcription_model": lambda v: ("cfg.transcription_model", v or "off"),
    "output_modality": lambda v: ("cfg.text_only", v == "text"),
    "idle_timeout_ms": lambda v: ("cfg.idle_timeout_on", v is not None),
    "max_output_tokens": lambda v: ("cfg.max_output_tokens_on", v is not None),
    "temperature": lambda v: ("cfg.temperature_on", v is not None),
}


def revert(fields: tuple[str, ...], applied: SessionConfig) -> None:
    """Put refused settings back to the value in force. Must run before the widgets are
    drawn in this run."""
    for name in fields:
        value = getattr(applied, name)
        key, shown = _WIDGET_VALUE.get(name, lambda v, n=name: (_k(n), v))(value)
        st.session_state[key] = shown
