"""Talk: start a call, speak, read both sides as they are spoken, type into the call."""

import streamlit as st

from components import call, panels, turns
from voicelab.bridge import BridgeError

st.title("Voice Lab")
st.caption(
    "Press Start, allow the microphone, and talk. Headphones keep the model from hearing itself."
)

bridge = call.bridge()
call.streamer(echo_cancellation=st.session_state.get("echo_cancellation", True))
turns.controls(bridge)
panels.live(bridge)

with st.form("typed", clear_on_submit=True, border=False):
    typed, send = st.columns([5, 1], vertical_alignment="bottom")
    text = typed.text_input("Type a message into the call", key="typed_text")
    if send.form_submit_button("Send", width="stretch"):
        try:
            bridge.send_text(text)
        except BridgeError as exc:
            st.warning(str(exc))
