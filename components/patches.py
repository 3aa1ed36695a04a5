"""Every patch this app makes to Streamlit and streamlit-webrtc, in one place, each against
the pinned version it was written for (a test fails when an upgrade moves what it touches).
``install`` runs at start-up, at the top of every run of ``app.py`` (it is idempotent); the
other two are used where the call widget is built.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit import config as st_config
from streamlit_webrtc.shutdown import SessionShutdownObserver

from voicelab.media import patches as media_patches


def install() -> None:
    """The call's audio runs in this process. Streamlit's full ``gc.collect()`` after every
    script run, each fragment rerun included, held the GIL for over half of every second
    while the live panels polled: the browser got 8-40 of its 50 voice packets a second and
    the microphone queue overflowed. Python's own generational collector still runs. Then
    the core's own patch (aiortc's audio level)."""
    if st.get_option("runner.postScriptGC"):
        st_config.set_option("runner.postScriptGC", False)
    media_patches.install()


class SessionEndObserver(SessionShutdownObserver):
    """Runs its callback when the Streamlit session ends, and only then.

    The parent also fires on page navigation, comparing the page hash it saw at creation
    with the session's; under ``st.navigation`` those differ from the first poll, so it fired
    at once and never again. With no initial hash the navigation check is off.
    """

    @staticmethod
    def _resolve_initial_page_script_hash(app_session: Any) -> str:
        return ""


def disarm_orphan_check(context: Any) -> None:
    """Before ``webrtc_streamer`` draws again (``context`` is its last one, if any):
    streamlit-webrtc 0.79's orphan check misreads the quick reruns of signalling as
    navigation and stops the worker it just connected (about one Start in ten delivered no
    audio). This app never navigates away mid-call, so the
    check is switched off by clearing the private attribute it reads."""
    if context is not None and hasattr(context, "_last_rendered_run_count"):
        context._last_rendered_run_count = None
