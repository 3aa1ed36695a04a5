"""The call itself, drawn by ``app.py`` above every page: the Start/Stop widget and the
call's state in plain words. Being drawn by the entrypoint at the same place on every page
is what keeps the browser leg up when the visitor moves between pages: the widget is never
unmounted, so neither is its peer connection."""

from __future__ import annotations

import html

import streamlit as st

from components import call, patches
from components.plain_text import plain
from voicelab.call import CONNECTED, CONNECTING, ERROR, Bridge, Snapshot

_WORDS = {
    "listening": ("Listening", "green"),
    "you are speaking": ("You are speaking", "blue"),
    "thinking": ("Thinking", "orange"),
    "speaking": ("Speaking", "violet"),
}


def state_words(snap: Snapshot, had_call: bool) -> tuple[str, str]:
    """(words, colour) for the state line."""
    if snap.status == CONNECTING:
        return "Connecting…", "orange"
    if snap.status == CONNECTED:
        return _WORDS.get(snap.activity, (snap.activity.capitalize(), "gray"))
    if snap.status == ERROR or had_call:
        return "Ended", "red" if snap.status == ERROR else "gray"
    return "Not in a call: press Start and allow the microphone", "gray"


def details(snap: Snapshot) -> str:
    """The technical line behind the words."""
    parts = [snap.status.capitalize()]
    if snap.status in (CONNECTING, CONNECTED):
        parts.append(f"ICE {snap.ice_state}")
    if snap.call_id:
        parts.append(f"call {snap.call_id}")
    if snap.connect_ms is not None and snap.status == CONNECTED:
        parts.append(f"session in {snap.connect_ms:.0f} ms")
    parts.append(f"mic frames {snap.mic_frames}")
    return " · ".join(parts)


def render(bridge: Bridge, every_s: float = 1.0) -> None:
    with st.container(key="call-bar", border=True):
        widget, status = st.columns([1, 3], vertical_alignment="center")
        with widget:
            call.streamer()
            patches.hide_video_placeholder()

        @st.fragment(run_every=every_s if bridge.active else None)
        def line() -> None:
            snap = bridge.snapshot()
            words, colour = state_words(snap, bridge.history_id is not None or bool(snap.turns))
            st.markdown(f"### :{colour}-badge[{words}]")
            with st.expander("Details", expanded=False):
                st.caption(html.escape(details(snap)))
            if snap.problem:
                st.error(plain(snap.problem))
            for message in snap.errors[-3:]:
                st.warning(plain(message))

        with status:
            line()
