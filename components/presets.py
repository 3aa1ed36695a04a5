"""Presets and share links in the sidebar: load a built-in or saved preset, save the current
settings under a name, put them in the page's address as a link, and restore a link's
settings when the page opens. The key is never part of any of them."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components import state
from voicelab import presets
from voicelab.protocol.session import ConfigError, SessionConfig


def load_link_once() -> None:
    """A share link's settings, once per session, when the page opens with a query."""
    if not state.first_look_at_link():
        return
    query = {k: st.query_params[k] for k in st.query_params}
    if not query:
        return
    try:
        state.load_into_controls(presets.from_query(query))
        state.set_preset_notice("Loaded the settings from the link.")
    except ConfigError as exc:
        state.set_preset_notice(f"The link's settings were not loaded: {exc}")


def _all() -> dict[str, dict[str, Any]]:
    return {**presets.BUILT_IN, **state.saved_presets()}


def _load(current: SessionConfig) -> None:
    name = state.preset_choice()
    try:
        state.load_into_controls(presets.apply(current, _all()[name]))
        state.set_preset_notice(f"Loaded “{name}”.")
    except (KeyError, ConfigError) as exc:
        state.set_preset_notice(f"Could not load that preset: {exc}")


def _save(current: SessionConfig) -> None:
    name = state.preset_name()
    if not name:
        state.set_preset_notice("Give the preset a name first.")
        return
    state.save_preset(name, presets.as_preset(current))
    state.set_preset_notice(f"Saved “{name}” for this session.")


def _share(current: SessionConfig) -> None:
    st.query_params.from_dict(presets.to_query(current))
    state.set_preset_notice("The address bar now holds these settings: copy it to share.")


def render(current: SessionConfig | None) -> None:
    sb = st.sidebar
    sb.subheader("Presets")
    if current is None:
        sb.caption("Fix the settings above to use presets.")
        return
    sb.selectbox("Preset", list(_all()), key=state.PRESET_CHOICE)
    load, share = sb.columns(2)
    load.button("Load", on_click=_load, args=(current,), width="stretch")
    share.button("Share link", on_click=_share, args=(current,), width="stretch")
    name, save = sb.columns([3, 2], vertical_alignment="bottom")
    name.text_input("Save current as", key=state.PRESET_NAME, placeholder="My settings")
    save.button("Save", on_click=_save, args=(current,), width="stretch")
    if notice := state.take_preset_notice():
        sb.caption(notice)
