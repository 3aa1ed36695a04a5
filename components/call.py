"""The call widget: one ``Bridge`` per visitor, wired to streamlit-webrtc's audio sink and to
the bridge's output track, started and stopped by the Start/Stop button, hung up when the
visitor leaves."""

from __future__ import annotations

import os
from typing import Any

import streamlit as st
from streamlit_webrtc import (
    WebRtcMode,
    create_audio_sink_track,
    webrtc_streamer,
)
from streamlit_webrtc.shutdown import SessionShutdownObserver

from voicelab.bridge import Bridge, Target
from voicelab.session_config import SessionConfig

STREAMER_KEY = "voicelab-call"
_BRIDGE = "voicelab.bridge"
_OBSERVER = "voicelab.shutdown_observer"
_REQUEST = "voicelab.call_request"
_NOTICE = "voicelab.call_notice"
#: streamlit-webrtc fetches TURN credentials when one of these is set (hosted demos).
_TURN_ENV = ("CLOUDFLARE_TURN_KEY_ID", "TWILIO_ACCOUNT_SID", "HF_TOKEN")


class SessionEndObserver(SessionShutdownObserver):
    """Runs its callback when the Streamlit session ends, and only then.

    The parent also fires on page navigation, comparing the page hash it saw at creation
    with the session's; under ``st.navigation`` those differ from the first poll, so it fired
    at once and never again. With no initial hash the navigation check is off.
    """

    @staticmethod
    def _resolve_initial_page_script_hash(app_session: Any) -> str:
        return ""


def bridge() -> Bridge:
    """This visitor's bridge, created once per Streamlit session and hung up when the
    session ends (tab closed and its TTL passed, or the server stopping)."""
    if _BRIDGE not in st.session_state:
        created = Bridge()
        st.session_state[_BRIDGE] = created
        st.session_state[_OBSERVER] = SessionEndObserver(lambda: created.stop(5.0))
    return st.session_state[_BRIDGE]


def disarm_orphan_check(key: str) -> None:
    """Work around streamlit-webrtc 0.79's dead Starts (see docs/streamlit-webrtc.md): its
    orphan check misreads quick signalling reruns as navigation and stops the worker it
    just connected. This page never navigates away mid-call, so the check is switched off
    by clearing the private attribute it reads. tests/test_app.py fails if an upgrade
    renames it."""
    context = st.session_state.get(key)
    if context is not None and hasattr(context, "_last_rendered_run_count"):
        context._last_rendered_run_count = None


def rtc_configuration() -> dict[str, Any] | None:
    """TURN for hosted demos when credentials are configured; otherwise no ICE servers at
    all, so nothing is looked up on networks this server cannot reach."""
    if any(os.environ.get(name) for name in _TURN_ENV):
        return None  # streamlit-webrtc picks Cloudflare, Twilio or Hugging Face
    return {"iceServers": []}


def set_request(target: Target | str, config: SessionConfig | None) -> None:
    """What the next Start connects to; the callback below runs before the script does, so
    the sidebar's values from the last run are handed over through session state."""
    st.session_state[_REQUEST] = (target, config)


def _on_change() -> None:
    context = st.session_state.get(STREAMER_KEY)
    current = bridge()
    if context is None or not context.state.playing:
        current.stop()
        return
    if current.active:
        return
    target, config = st.session_state.get(_REQUEST, (None, None))
    if isinstance(target, Target) and config is not None:
        current.start(target, config)
    else:
        current.refuse(target if isinstance(target, str) else "Fix the settings first.")


def streamer(echo_cancellation: bool = True) -> Any:
    """The Start/Stop widget. Must stay outside any fragment."""
    current = bridge()
    sink = create_audio_sink_track(
        current.on_browser_frame, key=f"{STREAMER_KEY}-mic", on_ended=current.on_browser_ended
    )
    disarm_orphan_check(STREAMER_KEY)
    ctx = webrtc_streamer(
        key=STREAMER_KEY,
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration(),
        media_stream_constraints={
            "audio": {
                "echoCancellation": echo_cancellation,
                "noiseSuppression": True,
                "autoGainControl": True,
            },
            "video": False,
        },
        sink_audio_track=sink,
        # The model's voice: frames forwarded as they arrive (see voicelab/relay_track.py
        # for why not PcmAudioSource's fixed tick).
        source_audio_track=current.output_track(),
        on_change=_on_change,
    )
    if not ctx.state.playing and current.active:
        current.stop()  # Stop pressed but the callback missed it (e.g. a rerun race)
    return ctx


def reconnect() -> None:
    """The Reconnect button: a new call with the sidebar's settings, same conversation. The
    page reruns right after, so what happened is kept for it (``take_notice``)."""
    target, config = st.session_state.get(_REQUEST, (None, None))
    current = bridge()
    if isinstance(target, Target) and config is not None:
        carried = current.reconnect(target, config)
        st.session_state[_NOTICE] = (
            f"Reconnected with the new settings; {carried} turns carried over."
        )
    else:
        current.refuse(target if isinstance(target, str) else "Fix the settings first.")


def take_notice() -> str | None:
    return st.session_state.pop(_NOTICE, None)
