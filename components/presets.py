"""Presets and share links in the sidebar: load a built-in or saved preset, save the current
settings under a name, put them in the page's address as a link, and restore a link's
settings when the page opens. The key is never part of any of them."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components import sidebar
from voicelab import presets
from voicelab.session_config import ConfigError, SessionConfig

_SAVED = "voicelab.saved_presets"
_LINK_READ = "voicelab.link_read"
_NOTICE = "voicelab.preset_notice"


def load_link_once() -> None:
    """A share link's settings, once per session, when the page opens with a query."""
    if st.session_state.get(_LINK_READ):
        return
    st.session_state[_LINK_READ] = True
    query = {k: st.query_params[k] for k in st.query_params}
    if not query:
        return
    try:
        sidebar.show(presets.from_query(query))
        st.session_state[_NOTICE] = "Loaded the settings from the link."
    except ConfigError as exc:
        st.session_state[_NOTICE] = f"The link's settings were not loaded: {exc}"


def _all() -> dict[str, dict[str, Any]]:
    return {**presets.BUILT_IN, **st.session_state.get(_SAVED, {})}


def _load(current: SessionConfig) -> None:
    name = st.session_state.get("preset.choice")
    try:
        sidebar.show(presets.apply(current, _all()[name]))
        st.session_state[_NOTICE] = f"Loaded “{name}”."
    except (KeyError, ConfigError) as exc:
        st.session_state[_NOTICE] = f"Could not load that preset: {exc}"


def _save(current: SessionConfig) -> None:
    name = (st.session_state.get("preset.name") or "").strip()
    if not name:
        st.session_state[_NOTICE] = "Give the preset a name first."
        return
    saved = dict(st.session_state.get(_SAVED, {}))
    saved[name] = {k: getattr(current, k) for k in SessionConfig.__dataclass_fields__}
    st.session_state[_SAVED] = saved
    st.session_state["preset.choice"] = name
    st.session_state[_NOTICE] = f"Saved “{name}” for this session."


def _share(current: SessionConfig) -> None:
    st.query_params.from_dict(presets.to_query(current))
    st.session_state[_NOTICE] = "The address bar now holds these settings: copy it to share."


def render(current: SessionConfig | None) -> None:
    sb = st.sidebar
    sb.subheader("Presets")
    if current is None:
        sb.caption("Fix the settings above to use presets.")
        return
    sb.selectbox("Preset", list(_all()), key="preset.choice")
    load, share = sb.columns(2)
    load.button("Load", on_click=_load, args=(current,), width="stretch")
    share.button("Share link", on_click=_share, args=(current,), width="stretch")
    name, save = sb.columns([3, 2], vertical_alignment="bottom")
    name.text_input("Save current as", key="preset.name", placeholder="My settings")
    save.button("Save", on_click=_save, args=(current,), width="stretch")
    if notice := st.session_state.pop(_NOTICE, None):
        sb.caption(notice)


def put_back(fields: tuple[str, ...], applied: SessionConfig) -> None:
    """Refused live changes: the controls show the value in force again, others stay."""
    chosen: SessionConfig = st.session_state.get(sidebar.CHOSEN, applied)
    sidebar.show(chosen.replace(**{name: getattr(applied, name) for name in fields}))
