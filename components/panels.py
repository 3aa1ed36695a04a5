"""The live part of the page: status badge, the two transcript panels and the call's
problems, redrawn by a fragment from the bridge's snapshot (never from protocol state).
The live settings' state is in the sidebar (``components.live_status``)."""

from __future__ import annotations

import html
import re

import streamlit as st

from voicelab.call import CONNECTED, CONNECTING, ERROR, Bridge, Snapshot
from voicelab.observers.transcript import Turn

_BADGE = {
    "idle": ("Idle", "gray"),
    CONNECTING: ("Connecting", "orange"),
    CONNECTED: ("Connected", "green"),
    ERROR: ("Error", "red"),
}
_MARK = {"streaming": " …", "interrupted": " ⟂ (interrupted)", "failed": "", "done": ""}


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def plain(text: str) -> str:
    """Model and user text shown as written: no links, images, colours or LaTeX, whatever
    the model says (a markdown image would make the viewer's browser fetch a URL)."""
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


def status_badge(snap: Snapshot) -> None:
    label, color = _BADGE.get(snap.status, (snap.status, "gray"))
    detail = f"ICE {snap.ice_state}" if snap.status in (CONNECTING, CONNECTED) else ""
    if snap.connect_ms is not None and snap.status == CONNECTED:
        detail += f" · session in {snap.connect_ms:.0f} ms · mic frames {snap.mic_frames}"
    st.markdown(
        f":{color}-badge[{label}] <span class='vl-detail'>{html.escape(detail)}</span>",
        unsafe_allow_html=True,
    )


def _panel(title: str, turns: list[Turn], testid: str) -> None:
    st.markdown(f"**{title}**")
    box = st.container(height=320, border=True, key=testid)
    if not turns:
        box.caption("Nothing yet.")
    for turn in turns[-50:]:
        box.markdown(f"{plain(turn.text) or '…'}{_MARK[turn.status]}")


def transcripts(snap: Snapshot) -> None:
    you, assistant = st.columns(2)
    with you:
        _panel("You", [t for t in snap.turns if t.role == "user"], "panel-you")
    with assistant:
        _panel("Assistant", [t for t in snap.turns if t.role == "assistant"], "panel-assistant")


def problems(snap: Snapshot) -> None:
    if snap.problem:
        st.error(snap.problem)
    for message in snap.errors[-3:]:
        st.warning(message)


def live(bridge: Bridge, every_s: float = 0.4) -> None:
    """Polls only while a call is up; Start, Stop and Send rerun the page anyway."""

    @st.fragment(run_every=every_s if bridge.active else None)
    def render() -> None:
        snap = bridge.snapshot()
        status_badge(snap)
        problems(snap)
        transcripts(snap)

    render()
