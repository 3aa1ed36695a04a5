"""The sidebar: backend, key, and every session setting, one function per section. Returns
what the user chose; during a call the page sends changes live (``Bridge.apply_settings``).

Each control's key comes from ``state.setting_key``: one name per setting, and a new
version whenever ``state.load_into_controls`` puts a whole set of values into the controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components import backend as backends
from components import state
from voicelab.protocol.backends import Backend, refusal_reason
from voicelab.protocol.defaults import (
    DEFAULT_TEMPERATURE,
    EAGERNESS,
    OPENAI_MODELS,
    TRANSCRIPTION_MODELS,
    VOICES,
)
from voicelab.protocol.limits import MAX_OUTPUT_TOKENS, RANGES
from voicelab.protocol.session import NOISE_REDUCTION, ConfigError, SessionConfig

BACKENDS: dict[str, Backend] = {"Local (offline)": "local", "OpenAI": "openai"}
#: The default first, then from least to most eager.
EAGERNESS_SLIDER = ("auto", *(e for e in EAGERNESS if e != "auto"))
TURN_LABELS = {"server_vad": "Server VAD", "semantic_vad": "Semantic VAD", "off": "Off (manual)"}
DEFAULTS = SessionConfig()


@dataclass(frozen=True)
class Choice:
    backend: Backend
    config: SessionConfig | None  # None when a setting is out of range
    problem: str | None = None
    half_duplex: bool = False
    spend_cap_usd: float | None = None
    keep_audio: bool = False


def _index(options: tuple[str, ...] | list[str], value: str) -> int:
    return list(options).index(value) if value in options else 0


def render() -> Choice:
    form = state.form(DEFAULTS)
    sb = st.sidebar
    sb.header("Session")
    backend = _backend(sb)
    changes: dict[str, Any] = {
        **_model(sb, form),
        **_turn_detection(sb, form),
        **_output(sb, form, backend),
        **_input(sb, form),
    }
    half_duplex = _echo(sb)
    spend_cap, keep_audio = _keeping(sb, backend)
    try:
        config = form.replace(**changes).validate()
    except ConfigError as exc:
        sb.error(str(exc))
        return Choice(backend, None, str(exc), half_duplex, spend_cap, keep_audio)
    state.set_chosen(config)
    sb.caption(
        "During a call, changes apply live; the model, and a voice the model has already "
        "spoken in, need Reconnect (just below)."
    )
    return Choice(backend, config, None, half_duplex, spend_cap, keep_audio)


def _backend(sb: DeltaGenerator) -> Backend:
    has_key = backends.openai_key().key is not None
    offered = [label for label, b in BACKENDS.items() if b != "local" or backends.local_allowed()]
    label = sb.radio(
        "Backend",
        offered,
        index=1 if has_key and len(offered) > 1 else 0,
        key=state.BACKEND,
        help="Local runs offline in this app; OpenAI needs an API key.",
    )
    backend = BACKENDS[label]
    if backend == "openai":
        if backends.visitor_keys_allowed():
            sb.text_input(
                "OpenAI API key",
                type="password",
                key=state.KEY_FIELD,
                on_change=state.remember_typed_key,
                help="Stays on the server; never shown again, logged or exported.",
            )
        sb.caption(f"Key: {backends.openai_key().label} · endpoint {backends.openai_url()}")
    else:
        sb.caption("Offline: VAD, recognition and speech run on this server. No key needed.")
    return backend


def _model(sb: DeltaGenerator, form: SessionConfig) -> dict[str, Any]:
    k = state.setting_key
    model = sb.selectbox(
        "Model", OPENAI_MODELS, index=_index(OPENAI_MODELS, form.model), key=k("model")
    )
    voice = sb.selectbox("Voice", VOICES, index=_index(VOICES, form.voice), key=k("voice"))
    instructions = sb.text_area(
        "Instructions",
        value=form.instructions,
        key=k("instructions"),
        placeholder="The server's default if empty.",
    )
    return {"model": model, "voice": voice, "instructions": instructions}


def _turn_detection(sb: DeltaGenerator, form: SessionConfig) -> dict[str, Any]:
    """The mode, and the controls of that mode only (the others keep their values)."""
    k = state.setting_key
    sb.subheader("Turn detection")
    turn = sb.radio(
        "Mode",
        list(TURN_LABELS),
        index=_index(list(TURN_LABELS), form.turn_detection),
        format_func=TURN_LABELS.get,
        key=k("turn_detection"),
        horizontal=True,
    )
    changes: dict[str, Any] = {"turn_detection": turn}
    if turn == "server_vad":
        changes["threshold"] = float(sb.slider(
            "Threshold", *RANGES["threshold"], form.threshold, 0.05, key=k("threshold"),
            help="Higher needs louder speech to count as speech.",
        ))  # fmt: skip
        changes["prefix_padding_ms"] = int(sb.slider(
            "Prefix padding (ms)", 0, 1000, form.prefix_padding_ms, 50,
            key=k("prefix_padding_ms"),
        ))  # fmt: skip
        changes["silence_duration_ms"] = int(sb.slider(
            "Silence duration (ms)", 100, 2000, form.silence_duration_ms, 50,
            key=k("silence_duration_ms"), help="How long a pause ends your turn.",
        ))  # fmt: skip
        idle_on = sb.checkbox(
            "Idle timeout", value=form.idle_timeout_ms is not None, key=k("idle_timeout_on")
        )
        changes["idle_timeout_ms"] = None
        if idle_on:
            lo, hi = RANGES["idle_timeout_ms"]
            changes["idle_timeout_ms"] = int(sb.slider(
                "Idle timeout (ms)", int(lo), int(hi), form.idle_timeout_ms or 10000, 1000,
                key=k("idle_timeout_ms"),
            ))  # fmt: skip
    elif turn == "semantic_vad":
        changes["eagerness"] = sb.select_slider(
            "Eagerness", EAGERNESS_SLIDER, value=form.eagerness, key=k("eagerness")
        )
    return changes


def _output(sb: DeltaGenerator, form: SessionConfig, backend: Backend) -> dict[str, Any]:
    k = state.setting_key
    sb.subheader("Voice and output")
    lo, hi = RANGES["speed"]
    speed = sb.slider("Speed", lo, hi, form.speed, 0.05, key=k("speed"))
    text_only = sb.toggle(
        "Text replies only", value=form.output_modality == "text", key=k("text_only")
    )
    tokens_on = sb.checkbox(
        "Limit output tokens",
        value=form.max_output_tokens is not None,
        key=k("max_output_tokens_on"),
    )
    max_tokens = (
        sb.number_input(
            "Max output tokens",
            1,
            MAX_OUTPUT_TOKENS,
            form.max_output_tokens or 512,
            key=k("max_output_tokens"),
        )
        if tokens_on
        else None
    )
    reason = refusal_reason(backend, "temperature")
    temp_on = sb.checkbox(
        "Set temperature",
        value=form.temperature is not None,
        key=k("temperature_on"),
        disabled=reason is not None,
    )
    temperature = sb.slider(
        "Temperature", *RANGES["temperature"],
        form.temperature if form.temperature is not None else DEFAULT_TEMPERATURE,
        0.05, key=k("temperature"), disabled=reason is not None or not temp_on,
    )  # fmt: skip
    if reason:
        sb.caption(reason)
    return {
        "speed": float(speed),
        "output_modality": "text" if text_only else "audio",
        "max_output_tokens": int(max_tokens) if max_tokens is not None else None,
        "temperature": float(temperature) if temp_on and reason is None else None,
    }


def _input(sb: DeltaGenerator, form: SessionConfig) -> dict[str, Any]:
    k = state.setting_key
    sb.subheader("Input")
    transcriptions = (*TRANSCRIPTION_MODELS, "off")
    transcription = sb.selectbox(
        "Transcription model",
        transcriptions,
        index=_index(transcriptions, form.transcription_model or "off"),
        key=k("transcription_model"),
        help="Without one, the You panel stays empty.",
    )
    noise = sb.selectbox(
        "Noise reduction",
        NOISE_REDUCTION,
        index=_index(NOISE_REDUCTION, form.noise_reduction),
        key=k("noise_reduction"),
    )
    return {
        "transcription_model": None if transcription == "off" else transcription,
        "noise_reduction": noise,
    }


def _echo(sb: DeltaGenerator) -> bool:
    """Browser echo cancellation (next Start) and half-duplex (now); returns half-duplex."""
    sb.subheader("Echo")
    sb.caption("Headphones are best: on speakers the model can hear, and answer, itself.")
    sb.toggle(
        "Echo cancellation",
        value=True,
        key=state.ECHO_CANCELLATION,
        help="The browser's own; takes effect at the next Start.",
    )
    return sb.toggle(
        "Half-duplex",
        key=state.HALF_DUPLEX,
        help="Mute the microphone while the model speaks (speakers without echo "
        "cancellation). You cannot interrupt it by talking then; use Interrupt.",
    )


def _keeping(sb: DeltaGenerator, backend: Backend) -> tuple[float | None, bool]:
    """The spend cap per call (0: none) and whether the call's audio is kept in History."""
    sb.subheader("Cost and history")
    cap = sb.number_input(
        "Spend cap per call (US$)",
        min_value=0.0,
        max_value=100.0,
        value=0.0,
        step=0.05,
        format="%.2f",
        key=state.SPEND_CAP,
        help="End the call after the response that takes its estimated cost over this. "
        "0 means no cap. Applies at once, also during a call.",
    )
    keep_audio = sb.toggle(
        "Keep audio",
        value=backend == "local",
        key=f"{state.KEEP_AUDIO}.{backend}",
        help="Store the call's audio in History (stereo: you left, the model right), for "
        "playback, export and replay. Takes effect at the next Start.",
    )
    return (float(cap) if cap else None), bool(keep_audio)
