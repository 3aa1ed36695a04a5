"""Streamlit building blocks: the sidebar, the call widget, transcript panels. Layout and
Streamlit wiring only; everything that speaks the protocol lives in ``voicelab``."""
