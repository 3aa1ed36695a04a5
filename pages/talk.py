"""Talk: the call as it happens: the conversation, the levels and the VAD timeline, the
latency of each turn and what the call has cost."""

import streamlit as st

from components import call, call_figures, conversation, state, turns
from components.live import feed, view
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
    with st.expander("Connection"):
        st.caption("Which way the audio goes on each leg, as ICE chose it.")
        if st.button("Check the connection"):
            for line in call.connection_check(bridge):
                st.write(line)

# Nothing here polls: the meters, the timeline and the state line are drawn by the browser
# from the call's feed, and each fragment below has a watcher that reruns it only when what
# it shows has changed (docs/performance.md has what a rerun costs the page).


#: During a call the live view draws up to this many finished turns before this page
#: redraws them: a rerun re-renders the page, so one per few turns rather than per turn.
LIVE_TURNS = 6


@st.fragment
def _conversation() -> None:
    """The turns that are over are drawn here; the newest ones, streaming or not, are drawn
    by the live view under them, and this reruns when it holds ``LIVE_TURNS`` finished ones
    (or the call has ended)."""
    snap = bridge.snapshot()
    drawn = conversation.settled(snap)
    view.watch(bridge, "settled", drawn, every_s=0.5, batch=LIVE_TURNS)
    with st.container(height=430, key="conversation", border=True):
        if not snap.turns:
            st.caption("Nothing said yet. Speak, or type a message below.")
        conversation.turns(snap, 0, drawn)
        view.turns(bridge, drawn)


@st.fragment
def _figures() -> None:
    snap = bridge.snapshot()
    view.watch(bridge, "figures", feed.versions(snap)["figures"], every_s=2.0)
    st.subheader("Latency")
    answered = feed.complete_latency(snap)
    call_figures.latency([t.stages_ms() for t in answered], percentiles(answered))
    st.subheader("Usage")
    call_figures.usage(snap.usage.tokens.as_dict(), snap.usage.cost_usd, snap.backend or "local")


with live_talk:
    view.meters(bridge)
    _conversation()
with live_figures:
    _figures()
