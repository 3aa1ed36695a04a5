"""Voice Lab: talk to a realtime speech-to-speech model and tune its session.

Run with ``streamlit run app.py``. This file is the web server: Streamlit serving
``main.py`` (the page script), plus the one route of our own, the call's live feed that
the page's live view reads (``components/live/route.py``).
"""

import streamlit as st
from streamlit import config

from components.live import route

app = st.App("main.py", routes=route.routes(config.get_option("server.baseUrlPath")))
