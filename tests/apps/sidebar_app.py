"""The app's sidebar without the call widget (AppTest cannot run streamlit-webrtc): the
same order as main.py, then the chosen config written out for the test to read."""

import dataclasses
import json
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from components import presets, sidebar

presets.load_link_once()
choice = sidebar.render()
presets.render(choice.config)
st.code(
    json.dumps(
        {
            "backend": choice.backend,
            "config": dataclasses.asdict(choice.config) if choice.config else None,
            "problem": choice.problem,
        }
    ),
    language="json",
)
