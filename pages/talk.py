"""Talk: the call as it happens: the conversation, the levels and the VAD timeline, the
latency of each turn and what the call has cost."""

import streamlit as st

from components import call, call_figures, conversation, meters, state, turns
from voicelab.call import BridgeError
from voicelab.observers.latency import percentiles

bridge = call.bridge()
turns.controls(bridge)

talk, figures = st.columns([3, 2])
with talk:
    live_talk = st.container()
    with st.form("typed", clear_on_submit=True, border=False):
        typed, send = st.columns([5, 1], vertical_alignment="bottom")
        text = typed.text_input("Type a message into the call", key=state.TYPED_TEXT)
        if send.form_submit_button("Send", width="stretch"):
            try:
                bridge.send_text(text)
            except BridgeError as exc:
                st.warning(str(exc))
with figures:
    live_figures = st.container()

# As often as the eye needs, and no more: every fragment rerun takes the GIL the audio needs
# and a redraw in the visitor's browser (docs/performance.md has what each costs).
live = bridge.active


@st.fragment(run_every=0.5 if live else None)
def _levels() -> None:
    meters.render(bridge.meters(meters.WINDOW_S))


def _conversation() -> None:
    """The turns that are over are drawn once, by the full run; a fragment polls only the
    ones still changing, and asks for a full run when one more is over."""
    snap = bridge.snapshot()
    drawn = conversation.settled(snap)
    with st.container(height=430, key="conversation", border=True):
        if not snap.turns:
            st.caption("Nothing said yet. Speak, or type a message below.")
        conversation.turns(snap, 0, drawn)

        @st.fragment(run_every=1.0 if live else None)
        def changing() -> None:
            now = bridge.snapshot()
            if conversation.settled(now) > drawn:
                st.rerun(scope="app")
            conversation.turns(now, drawn)

        changing()


@st.fragment(run_every=5.0 if live else None)
def _figures() -> None:
    snap = bridge.snapshot()
    st.subheader("Latency")
    call_figures.latency(
        [t.stages_ms() for t in snap.latency if t.at_bridge_ms], percentiles(snap.latency)
    )
    st.subheader("Usage")
    call_figures.usage(snap.usage.tokens.as_dict(), snap.usage.cost_usd, snap.backend or "local")


# The polling fragments run last in the script: with a fragment above it, a full rerun asked
# for from the sidebar's fragment (Reconnect, a refused setting put back) had Streamlit 1.67
# drop everything drawn after this fragment (the message box), in Chromium.
with live_talk:
    _levels()
    _conversation()
with live_figures:
    _figures()
