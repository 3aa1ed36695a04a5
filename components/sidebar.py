"""The sidebar: backend, key, and every session setting. Returns what the user chose; during
a call the page sends changes live (``Bridge.apply_settings``).

Each control's key is ``cfg.<SessionConfig field>.<version>``: one name per setting, and a
new version whenever ``show`` puts a whole set of values into the controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components import backend as backends
from voicelab import code_view as code_view_module
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


FORM = "voicelab.form"  # the settings the controls start from
_VERSION = "voicelab.form_version"
CHOSEN = "voicelab.chosen"  # the settings of the last run


def show(config: SessionConfig) -> None:
    """Put ``config`` into the controls (a preset, a link, a refused change put back).

    The controls are redrawn under new keys with ``config`` as their values, instead of
    writing into widget state, which Streamlit's frontend can overwrite on a rerun."""
    st.session_state[FORM] = config
    st.session_state[_VERSION] = st.session_state.get(_VERSION, 0) + 1


def _k(name: str) -> str:
    return f"cfg.{name}.{st.session_state.get(_VERSION, 0)}"


def _index(options: tuple[str, ...] | list[str], value: str) -> int:
    return list(options).index(value) if value in options else 0


def render() -> Choice:
    form: SessionConfig = st.session_state.get(FORM, DEFAULTS)
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

    model = sb.selectbox(
        "Model", OPENAI_MODELS, index=_index(OPENAI_MODELS, form.model), key=_k("model")
    )
    voice = sb.selectbox("Voice", VOICES, index=_index(VOICES, form.voice), key=_k("voice"))
    instructions = sb.text_area(
        "Instructions",
        value=form.instructions,
        key=_k("instructions"),
        placeholder="The server's default if empty.",
    )

    sb.subheader("Turn detection")
    turn = sb.radio(
        "Mode",
        list(TURN_LABELS),
        index=_index(list(TURN_LABELS), form.turn_detection),
        format_func=TURN_LABELS.get,
        key=_k("turn_detection"),
        horizontal=True,
    )
    threshold, padding, silence, idle, eagerness = (
        form.threshold,
        form.prefix_padding_ms,
        form.silence_duration_ms,
        form.idle_timeout_ms,
        form.eagerness,
    )
    if turn == "server_vad":
        threshold = sb.slider(
            "Threshold", 0.0, 1.0, form.threshold, 0.05, key=_k("threshold"),
            help="Higher needs louder speech to count as speech.",
        )  # fmt: skip
        padding = sb.slider(
            "Prefix padding (ms)", 0, 1000, form.prefix_padding_ms, 50,
            key=_k("prefix_padding_ms"),
        )  # fmt: skip
        silence = sb.slider(
            "Silence duration (ms)", 100, 2000, form.silence_duration_ms, 50,
            key=_k("silence_duration_ms"), help="How long a pause ends your turn.",
        )  # fmt: skip
        idle_on = sb.checkbox(
            "Idle timeout", value=form.idle_timeout_ms is not None, key=_k("idle_timeout_on")
        )
        idle = (
            sb.slider(
                "Idle timeout (ms)",
                5000,
                30000,
                form.idle_timeout_ms or 10000,
                1000,
                key=_k("idle_timeout_ms"),
            )
            if idle_on
            else None
        )
    elif turn == "semantic_vad":
        eagerness = sb.select_slider(
            "Eagerness", EAGERNESS, value=form.eagerness, key=_k("eagerness")
        )

    sb.subheader("Voice and output")
    speed = sb.slider("Speed", 0.25, 1.5, form.speed, 0.05, key=_k("speed"))
    text_only = sb.toggle(
        "Text replies only", value=form.output_modality == "text", key=_k("text_only")
    )
    tokens_on = sb.checkbox(
        "Limit output tokens",
        value=form.max_output_tokens is not None,
        key=_k("max_output_tokens_on"),
    )
    max_tokens = (
        sb.number_input(
            "Max output tokens",
            1,
            4096,
            form.max_output_tokens or 512,
            key=_k("max_output_tokens"),
        )
        if tokens_on
        else None
    )
    reason = refusal_reason(backend, "temperature")
    temp_on = sb.checkbox(
        "Set temperature",
        value=form.temperature is not None,
        key=_k("temperature_on"),
        disabled=reason is not None,
    )
    temperature = sb.slider(
        "Temperature", 0.0, 2.0, form.temperature if form.temperature is not None else 0.8,
        0.05, key=_k("temperature"), disabled=reason is not None or not temp_on,
    )  # fmt: skip
    if reason:
        sb.caption(reason)

    sb.subheader("Input")
    transcriptions = (*TRANSCRIPTION_MODELS, "off")
    transcription = sb.selectbox(
        "Transcription model",
        transcriptions,
        index=_index(transcriptions, form.transcription_model or "off"),
        key=_k("transcription_model"),
        help="Without one, the You panel stays empty.",
    )
    noise = sb.selectbox(
        "Noise reduction",
        NOISE_REDUCTION,
        index=_index(NOISE_REDUCTION, form.noise_reduction),
        key=_k("noise_reduction"),
    )

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
        config = form.replace(
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
    st.session_state[CHOSEN] = config
    sb.caption(
        "During a call, changes apply live; the model, and a voice the model has already "
        "spoken in, need Reconnect (just below)."
    )
    return Choice(backend, config, half_duplex=half_duplex)


def code_view(choice: Choice) -> None:
    """The session as JSON and as a Python program starting the same call (no key in it)."""
    if choice.config is None:
        return
    session = choice.config.to_session(choice.backend)
    url = (
        backends.openai_url()
        if choice.backend == "openai"
        else "http://127.0.0.1:8765/v1"  # `voicelab serve-local`
    )
    with st.sidebar.expander("View as code"):
        st.code(code_view_module.session_json(session), language="json")
        st.code(code_view_module.python_snippet(session, url), language="python")
