"""The sidebar and its live-settings block, with a real ``LiveSettings`` standing in for a
call (AppTest cannot run streamlit-webrtc): every run hands it the sidebar's settings as
the bridge does, and three buttons play the server's part. The block is drawn by the app's
own ``live_status.render``; a refusal is put back into the controls as main.py does."""

import sys
from pathlib import Path
from typing import Any

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from components import live_status, sidebar
from voicelab.call import CONNECTED, Snapshot
from voicelab.observers.live_settings import LiveSettings, LiveStatus
from voicelab.observers.responses import ResponseState

LIVE = "test.live"  # the stand-in call's LiveSettings, made from the first run's settings
SENT = "test.sent"  # the last session.update, for the refusal to name
REASON = "Invalid value for threshold: the server keeps 0.5"

SPOKEN = {"type": "output_audio_buffer.started", "response_id": "r"}
CONFIRMED = {"type": "session.updated", "session": {}}


def feed(event: dict[str, Any]) -> None:
    live = st.session_state[LIVE]
    live.observe("received", event)
    if due := live.take_due():
        st.session_state[SENT] = due


def refuse() -> None:
    sent = st.session_state.get(SENT) or {}
    feed({"type": "error", "error": {"message": REASON, "event_id": sent.get("event_id")}})


live: LiveSettings | None = st.session_state.get(LIVE)
if live is not None:
    live_status.put_back_refused(live.status(), live.acknowledge_refusal)

choice = sidebar.render()
if choice.config is not None:
    if live is None:
        live = LiveSettings(choice.config, choice.backend, ResponseState())
        st.session_state[LIVE] = live
        feed({"type": "session.created", "session": {}})  # the call is up
    elif event := live.want(choice.config):
        st.session_state[SENT] = event

with st.sidebar:
    live_status.render(
        lambda: Snapshot(status=CONNECTED, live=live.status() if live else LiveStatus())
    )

st.button("Model has spoken", on_click=feed, args=(SPOKEN,))
st.button("Server confirms", on_click=feed, args=(CONFIRMED,))
st.button("Server refuses", on_click=refuse)
