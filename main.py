"""Voice Lab's page script (``app.py`` serves it): the page config, the start-up patches,
the shared sidebar, the call bar every page shares, and the navigation; pages hold layout
only.
"""

import streamlit as st

from components import (
    backend,
    call,
    call_bar,
    code_view,
    history,
    hosting,
    live_status,
    patches,
    presets,
    sidebar,
)

st.set_page_config(page_title="Voice Lab", page_icon="🎙️", layout="wide")
patches.install()
hosted = hosting.gate()  # a hosted demo's sign-in and passcode: nothing below is drawn before

bridge = call.bridge()
bridge.owner = hosting.calls_owner(hosted)  # whose the calls it stores are
kept = history.history()
bridge.history = kept.writer if kept is not None else None
live_status.put_back_refused(bridge.snapshot().live, bridge.acknowledge_refusal)
presets.load_link_once()

choice = sidebar.render()
with st.sidebar:  # under the controls it reports on
    live_status.render(bridge.snapshot, bridge)
bridge.half_duplex = choice.half_duplex
bridge.spend_cap_usd = choice.spend_cap_usd
bridge.keep_audio = choice.keep_audio
presets.render(choice.config)
code_view.render(choice)
if choice.config is None:
    call.set_request(choice.problem or "Fix the settings first.", None)
else:
    call.set_request(backend.target(choice.backend), choice.config)
    bridge.apply_settings(choice.config)  # during a call: one debounced session.update

page = st.navigation(
    [
        st.Page("pages/talk.py", title="Talk", icon="🎙️", default=True),
        st.Page("pages/events.py", title="Events", icon="📜"),
        st.Page("pages/history.py", title="History", icon="🗂️"),
    ],
    position="top",
)
st.title("Voice Lab")
# Drawn here, at the same place on every page: a page change never unmounts the call.
call_bar.render(bridge)
page.run()
