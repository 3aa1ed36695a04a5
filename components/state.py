"""Every key this app keeps in ``st.session_state``, and typed accessors for the values the
app stores there itself. No other module names a key: a widget is given its key from here,
and a value is read or written through a function here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import streamlit as st

from voicelab.call import Bridge, Target
from voicelab.protocol.session import SessionConfig

# ---- widget keys: the widget owns the value, Streamlit writes it --------------------------

BACKEND = "backend"
KEY_FIELD = "voicelab.key_field"  # the API key's password field
ECHO_CANCELLATION = "echo_cancellation"
HALF_DUPLEX = "half_duplex"
SPEND_CAP = "spend_cap"
KEEP_AUDIO = "keep_audio"
EVENTS_FILTER = "events.filter"
EVENTS_DIRECTION = "events.direction"
EVENTS_SEARCH = "events.search"
EVENTS_FOLLOW = "events.follow"
EVENTS_SOURCE = "events.source"
HISTORY_TABLE = "history.table"
_REPLAY = "voicelab.replay"  # the replay running for this visitor, if any
PRESET_CHOICE = "preset.choice"
PRESET_NAME = "preset.name"
TYPED_TEXT = "typed_text"
NEXT_START = "call-next-start"  # after a call: continue its conversation, or a new one
CONTINUE, NEW = "Continue this conversation", "New conversation"
PASSCODE_FIELD = "voicelab.passcode"
STREAMER = "voicelab-call"  # streamlit-webrtc keeps the call widget's context here
STREAMER_MIC = "voicelab-call-mic"

# ---- values the app keeps -----------------------------------------------------------------

_BRIDGE = "voicelab.bridge"
_SHUTDOWN_OBSERVER = "voicelab.shutdown_observer"
_CALL_REQUEST = "voicelab.call_request"
_CALL_NOTICE = "voicelab.call_notice"
_TYPED_KEY = "voicelab.typed_key"  # kept apart: a widget's state goes when it is not drawn
_FORM = "voicelab.form"
_FORM_VERSION = "voicelab.form_version"
_CHOSEN = "voicelab.chosen"
_SAVED_PRESETS = "voicelab.saved_presets"
_LINK_READ = "voicelab.link_read"
_PRESET_NOTICE = "voicelab.preset_notice"
_ADMITTED = "voicelab.admitted"  # this session got past the passcode
_GATE_MESSAGE = "voicelab.gate_message"  # why the last passcode did not let them in
_TURN_SERVERS = "voicelab.turn_servers"  # this visitor's TURN credentials and their expiry
_TURN_TAG = "voicelab.turn_tag"  # names this session in the TURN server's log, nothing more
_LEDGER_KEY = "voicelab.ledger_key"  # the ledger row of this visitor's last call


def streamer_context() -> Any:
    """streamlit-webrtc's context of the call widget, once it has been drawn."""
    return st.session_state.get(STREAMER)


def bridge() -> Bridge | None:
    return st.session_state.get(_BRIDGE)


def keep_bridge(created: Bridge, shutdown_observer: Any) -> None:
    """The visitor's bridge, with the observer that hangs it up when the session ends (it
    must live as long as the session)."""
    st.session_state[_BRIDGE] = created
    st.session_state[_SHUTDOWN_OBSERVER] = shutdown_observer


@dataclass(frozen=True)
class CallRequest:
    """What the next Start connects to: a target, or the sentence saying why there is none."""

    target: Target | str
    config: SessionConfig | None


def call_request() -> CallRequest:
    return st.session_state.get(_CALL_REQUEST) or CallRequest("Fix the settings first.", None)


def set_call_request(request: CallRequest) -> None:
    st.session_state[_CALL_REQUEST] = request


def set_call_notice(text: str) -> None:
    st.session_state[_CALL_NOTICE] = text


def take_call_notice() -> str | None:
    return st.session_state.pop(_CALL_NOTICE, None)


def typed_key() -> str:
    return (st.session_state.get(_TYPED_KEY) or "").strip()


def remember_typed_key() -> None:
    """The password field's on_change: keep the key for the session even while the field
    is not shown (the Local backend selected)."""
    st.session_state[_TYPED_KEY] = st.session_state.get(KEY_FIELD) or ""


def form(default: SessionConfig) -> SessionConfig:
    """The settings the sidebar's controls start from."""
    return st.session_state.get(_FORM, default)


def load_into_controls(config: SessionConfig) -> None:
    """Put ``config`` into the sidebar's controls (a preset, a link, a refused change put
    back). The controls are redrawn under new keys with ``config`` as their values, instead
    of writing into widget state, which Streamlit's frontend can overwrite on a rerun."""
    st.session_state[_FORM] = config
    st.session_state[_FORM_VERSION] = st.session_state.get(_FORM_VERSION, 0) + 1


def setting_key(name: str) -> str:
    """The key of the control for ``SessionConfig`` field ``name``: one name per setting,
    and a new version whenever ``load_into_controls`` puts a whole set of values in."""
    return f"cfg.{name}.{st.session_state.get(_FORM_VERSION, 0)}"


def chosen() -> SessionConfig | None:
    """The settings of the last run (None before the sidebar's first valid run)."""
    return st.session_state.get(_CHOSEN)


def set_chosen(config: SessionConfig) -> None:
    st.session_state[_CHOSEN] = config


def trigger(component_key: str, name: str) -> Any:
    """A component's trigger value, in the callback of the rerun it started."""
    value = st.session_state.get(component_key)
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def continue_conversation() -> bool:
    """Whether the next Start carries the last call's conversation (the default)."""
    return st.session_state.get(NEXT_START) != NEW  # unset or deselected: continue


def echo_cancellation() -> bool:
    return bool(st.session_state.get(ECHO_CANCELLATION, True))


def preset_choice() -> str | None:
    return st.session_state.get(PRESET_CHOICE)


def preset_name() -> str:
    return (st.session_state.get(PRESET_NAME) or "").strip()


def saved_presets() -> dict[str, dict[str, Any]]:
    return st.session_state.get(_SAVED_PRESETS, {})


def save_preset(name: str, settings: dict[str, Any]) -> None:
    st.session_state[_SAVED_PRESETS] = {**saved_presets(), name: settings}
    st.session_state[PRESET_CHOICE] = name


def first_look_at_link() -> bool:
    """True once per session: the first run reads a share link's query."""
    if st.session_state.get(_LINK_READ):
        return False
    st.session_state[_LINK_READ] = True
    return True


def set_preset_notice(text: str) -> None:
    st.session_state[_PRESET_NOTICE] = text


def take_preset_notice() -> str | None:
    return st.session_state.pop(_PRESET_NOTICE, None)


def replay() -> Any:
    """This visitor's replay in progress or just finished (a ``Future``), if any."""
    return st.session_state.get(_REPLAY)


def set_replay(future: Any) -> None:
    st.session_state[_REPLAY] = future


def admitted() -> bool:
    return bool(st.session_state.get(_ADMITTED))


def admit() -> None:
    st.session_state[_ADMITTED] = True


def typed_passcode() -> str:
    return st.session_state.get(PASSCODE_FIELD) or ""


def ledger_key() -> str | None:
    return st.session_state.get(_LEDGER_KEY)


def set_ledger_key(key: str) -> None:
    st.session_state[_LEDGER_KEY] = key


def set_gate_message(text: str) -> None:
    st.session_state[_GATE_MESSAGE] = text


def take_gate_message() -> str | None:
    return st.session_state.pop(_GATE_MESSAGE, None)


def turn_servers() -> tuple[list[dict[str, Any]], float] | None:
    return st.session_state.get(_TURN_SERVERS)


def set_turn_servers(held: tuple[list[dict[str, Any]], float]) -> None:
    st.session_state[_TURN_SERVERS] = held


def turn_tag() -> str:
    if _TURN_TAG not in st.session_state:
        st.session_state[_TURN_TAG] = f"visitor-{secrets.token_hex(4)}"
    return st.session_state[_TURN_TAG]
