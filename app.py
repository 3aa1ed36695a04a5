"""Voice Lab: talk to a realtime speech-to-speech model and tune its session.

Run with ``streamlit run app.py``. This file holds the page config, the navigation and the
shared sidebar; pages hold layout only.
"""

import streamlit as st
from streamlit import config as st_config

from components import backend, call, live_status, presets, sidebar

st.set_page_config(page_title="Voice Lab", page_icon="🎙️", layout="wide")
# The call's audio runs in this process. Streamlit's full gc.collect() after every script
# run, each fragment rerun included, held the GIL for over half of every second while the
# live panels polled: the browser got 8-40 of its 50 voice packets a second and the
# microphone queue overflowed. Python's own generational collector still runs.
if st.get_option("runner.postScriptGC"):
    st_config.set_option("runner.postScriptGC", False)

bridge = call.bridge()
live_status.put_back_refused(bridge.snapshot().live, bridge.acknowledge_refusal)
presets.load_link_once()

choice = sidebar.render()
with st.sidebar:  # under the controls it reports on
    live_status.render(bridge.snapshot, polling=bridge.active)
bridge.half_duplex = choice.half_duplex
presets.render(choice.config)
sidebar.code_view(choice)
if choice.config is None:
    call.set_request(choice.problem or "Fix the settings first.", None)
else:
    call.set_request(backend.target(choice.backend), choice.config)
    bridge.apply_settings(choice.config)  # during a call: one debounced session.update

page = st.navigation([st.Page("pages/talk.py", title="Talk", icon="🎙️", default=True)])
page.run()
