"""The call itself, drawn by ``main.py`` above every page: the Start/Stop widget and the
call's state in plain words. Being drawn by the entrypoint at the same place on every page
is what keeps the browser leg up when the visitor moves between pages: the widget is never
unmounted, so neither is its peer connection."""

from __future__ import annotations

import streamlit as st

from components import call, patches, state
from components.live import feed, view
from voicelab.call import Bridge


def render(bridge: Bridge) -> None:
    with st.container(key="call-bar", border=True):
        widget, status = st.columns([1, 3], vertical_alignment="center")
        with widget:
            call.streamer()
            patches.hide_video_placeholder()
        with status:
            # Drawn by the browser from the call's feed: no rerun needed as the state moves.
            view.state(bridge)
            _next_start(bridge)


@st.fragment
def _next_start(bridge: Bridge) -> None:
    """Once a call has ended with something said: whether Start goes on with it."""
    snap = bridge.snapshot()
    view.watch(bridge, "live", feed.versions(snap)["live"], every_s=0.5, name="next-start")
    if not bridge.active and bridge.carried_turns():
        st.segmented_control(
            "Next Start",
            [state.CONTINUE, state.NEW],
            default=state.CONTINUE,
            key=state.NEXT_START,
            help="Continue: the new call gets this conversation as its context.",
        )
