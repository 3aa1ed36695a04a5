"""Streamlit building blocks: the sidebar, the call bar, the conversation, the meters and
the figures. Layout and Streamlit wiring only; everything that speaks the protocol lives in
``voicelab``."""
