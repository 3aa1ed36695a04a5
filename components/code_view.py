"""The sidebar's "View as code": the session as JSON and as a Python program that starts the
same call against the backend in use (its real address; the key read from the environment,
never written into the page)."""

from __future__ import annotations

import streamlit as st

from components import backend as backends
from components.sidebar import Choice
from voicelab import code_view


def render(choice: Choice) -> None:
    if choice.config is None:
        return
    session = choice.config.to_session(choice.backend)
    if choice.backend == "openai":
        url, key_env = backends.openai_url(), "OPENAI_API_KEY"
    else:
        url, key_env = backends.local_server().base_url, backends.LOCAL_KEY_ENV
    with st.sidebar.expander("View as code"):
        st.code(code_view.session_json(session), language="json")
        st.code(code_view.python_snippet(session, url, key_env), language="python")
        if choice.backend == "local":
            st.caption(
                f"The in-process server takes the token in {key_env}: set it before "
                "`streamlit run app.py` and when you run this program."
            )
