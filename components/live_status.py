"""The live-settings block, in the sidebar under the controls it reports on: each setting
changed during the call and whether the server has taken it, the server's reason when it
refused one, and one Reconnect for the settings no update can change.

``lines`` decides what to show and is pure, so it is tested without Streamlit; ``render``
only draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from components import call, state
from components.live import feed, view
from components.plain_text import plain
from voicelab.call import CONNECTED, Bridge, Snapshot
from voicelab.observers.live_settings import APPLIED, PENDING, RECONNECT, REFUSED, LiveStatus

MARKS = {PENDING: "…", APPLIED: "✓", REFUSED: "✗", RECONNECT: "↻"}
RECONNECT_HELP = "Start a new call with these settings; the conversation is carried over."


@dataclass(frozen=True)
class Lines:
    """What the block shows; an empty ``Lines`` shows nothing."""

    caption: str | None = None  # "Live settings: threshold ✓ applied · voice ↻ needs reconnect"
    warning: str | None = None  # the server's reason for the last refusal
    reconnect: bool = False  # a setting changed that only a new call can take
    put_back: bool = False  # a refusal not yet reflected in the sidebar's controls


def lines(snap: Snapshot) -> Lines:
    """Nothing outside a call, or before a setting has changed in it."""
    live = snap.live
    if snap.status != CONNECTED or not live.fields:
        return Lines()
    states = live.fields.values()
    shown = " · ".join(
        f"{name.replace('_', ' ')} {MARKS.get(mark, '')} {mark}"
        for name, mark in live.fields.items()
    )
    return Lines(
        caption=f"Live settings: {shown}",
        warning=(
            f"The server kept the previous value: {live.refusal}"
            if live.refusal and REFUSED in states
            else None
        ),
        reconnect=RECONNECT in states,
        put_back=bool(live.refused_fields),
    )


def put_back_refused(live: LiveStatus, acknowledge: Callable[[tuple[str, ...]], None]) -> None:
    """Before the sidebar is drawn: the server said no, so its controls show what holds.
    ``acknowledge`` names the fields put back, so a newer refusal is not lost."""
    if live.refused_fields and live.applied is not None:
        chosen = state.chosen() or live.applied
        state.load_into_controls(
            chosen.replace(**{name: getattr(live.applied, name) for name in live.refused_fields})
        )
        acknowledge(live.refused_fields)


def draw(snap: Snapshot) -> None:
    """Draws ``lines(snap)`` where the caller is (the sidebar)."""
    shown = lines(snap)
    if shown.caption:
        st.caption(shown.caption)  # setting names and states only: nothing to escape
    if shown.warning:
        st.warning(plain(shown.warning))  # holds the server's text: shown as written
    if shown.reconnect and st.button("Reconnect", help=RECONNECT_HELP):
        call.reconnect()
        # A button in a fragment reruns only the fragment; the whole page must follow.
        st.rerun(scope="app")
    if shown.put_back:
        st.rerun(scope="app")  # main.py puts the refused controls back to the value in force


def render(snapshot: Callable[[], Snapshot], bridge: Bridge | None = None) -> None:
    """Call inside ``with st.sidebar:`` (a fragment may not write to ``st.sidebar`` itself,
    but one started there draws in it). With ``bridge``, redrawn when the call's live
    settings change; Start, Stop and every settings change rerun the page anyway."""

    if notice := state.take_call_notice():
        st.caption(notice)  # outside the fragment: stays until the next full run

    @st.fragment
    def block() -> None:
        snap = snapshot()
        draw(snap)
        if bridge is not None:
            view.watch(bridge, "live", feed.versions(snap)["live"], every_s=0.5)

    block()
