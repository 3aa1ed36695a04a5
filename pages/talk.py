"""Talk: start a call, speak, read both sides as they are spoken, type into the call."""

import streamlit as st

from components import call, panels, state, turns
from voicelab.call import BridgeError

st.title("Voice Lab")
st.caption(
    "Press Start, allow the microphone, and talk. Headphones keep the model from hearing itself."
)

bridge = call.bridge()
call.streamer()
turns.controls(bridge)
live_area = st.container()  # drawn here, filled last (see below)

with st.form("typed", clear_on_submit=True, border=False):
    typed, send = st.columns([5, 1], vertical_alignment="bottom")
    text = typed.text_input("Type a message into the call", key=state.TYPED_TEXT)
    if send.form_submit_button("Send", width="stretch"):
        try:
            bridge.send_text(text)
        except BridgeError as exc:
            st.warning(str(exc))

# The polling fragment runs last in the script: with a fragment above it, a full rerun asked
# for from the sidebar's fragment (Reconnect, a refused setting put back) had Streamlit 1.67
# drop everything drawn after this fragment (the message box), in Chromium.
with live_area:
    panels.live(bridge)
