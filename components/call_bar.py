"""The call itself, drawn by ``main.py`` above every page: the Start/Stop widget and the
call's state in plain words. Being drawn by the entrypoint at the same place on every page
is what keeps the browser leg up when the visitor moves between pages: the widget is never
unmounted, so neither is its peer connection."""

from __future__ import annotations

import streamlit as st

from components import call, patches
from components.live import view
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
