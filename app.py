"""Voice Lab: talk to a realtime speech-to-speech model and tune its session.

Run with ``streamlit run app.py``. This file holds the page config, the start-up patches,
the navigation and the shared sidebar; pages hold layout only.
"""

import streamlit as st

from components import backend, call, code_view, live_status, patches, presets, sidebar

st.set_page_config(page_title="Voice Lab", page_icon="🎙️", layout="wide")
patches.install()

bridge = call.bridge()
live_status.put_back_refused(bridge.snapshot().live, bridge.acknowledge_refusal)
presets.load_link_once()

choice = sidebar.render()
with st.sidebar:  # under the controls it reports on
    live_status.render(bridge.snapshot, polling=bridge.active)
bridge.half_duplex = choice.half_duplex
presets.render(choice.config)
code_view.render(choice)
if choice.config is None:
    call.set_request(choice.problem or "Fix the settings first.", None)
else:
    call.set_request(backend.target(choice.backend), choice.config)
    bridge.apply_settings(choice.config)  # during a call: one debounced session.update

page = st.navigation([st.Page("pages/talk.py", title="Talk", icon="🎙️", default=True)])
page.run()
