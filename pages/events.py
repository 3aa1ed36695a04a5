"""Events: every protocol event of the current call or of a stored one, both ways, to
filter, search, read as JSON and download as JSONL."""

import streamlit as st

from components import call, event_rows, history, hosting, state

SHOWN = 300

bridge = call.bridge()
kept = history.history()
LIVE = "The current (or last) call"
stored = kept.store.list_calls(50, hosting.calls_shown()) if kept is not None else []
labels = {LIVE: None} | {
    f"{c.call_id} · {c.backend} · {c.model}": c.call_id
    for c in stored
    if c.call_id != bridge.history_id
}
source = st.selectbox("Call", list(labels), key=state.EVENTS_SOURCE)
call_id = labels[source]

prefix_col, direction_col, search_col, follow_col = st.columns(
    [2, 2, 3, 1], vertical_alignment="bottom"
)
prefix = prefix_col.text_input("Type starts with", key=state.EVENTS_FILTER, placeholder="response.")
direction = direction_col.segmented_control(
    "Direction", ["both", "sent", "received"], default="both", key=state.EVENTS_DIRECTION
)
search = search_col.text_input(
    "Search", key=state.EVENTS_SEARCH, placeholder="any text in the event"
)
follow = follow_col.toggle(
    "Follow", value=True, key=state.EVENTS_FOLLOW, help="Keep up with the live call."
)


@st.fragment(run_every=1.0 if (follow and call_id is None and bridge.active) else None)
def _events() -> None:
    if call_id is None:
        all_rows = event_rows.rows(bridge.events())
    else:
        all_rows = event_rows.rows(kept.store.events(call_id)) if kept is not None else []
    chosen = event_rows.select(all_rows, prefix or "", direction or "both", search or "")
    st.caption(
        f"{len(chosen)} of {len(all_rows)} events"
        + (f"; the last {SHOWN} shown" if len(chosen) > SHOWN else "")
    )
    st.download_button(
        "Download JSONL",
        lambda: event_rows.jsonl(chosen),  # built on click, not on every poll
        file_name=f"{call_id or bridge.history_id or 'call'}-events.jsonl",
        mime="application/jsonl",
        disabled=not chosen,
        on_click="ignore",
    )
    shown = chosen[-SHOWN:][::-1]  # newest first
    picked = st.dataframe(
        event_rows.table(shown),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="events.table",
    )
    selected = picked.selection.rows if picked is not None else []
    if selected:
        st.json(dict(shown[selected[0]].event), expanded=True)
    else:
        st.caption("Pick a row to read the event as JSON.")


_events()
