"""History: every call kept as it happened. Open one, compare two, export, delete, replay
one's microphone through the sidebar's current settings."""

import time

import pandas as pd
import streamlit as st

from components import call, call_figures, history, hosting, replays, state
from components.plain_text import plain
from voicelab.history.compare import figures_rows, settings_diff
from voicelab.history.export import export_zip
from voicelab.upstream.transport import Target

kept = history.history()
if kept is None:
    st.warning("History is not available: the store could not be opened (see the app's log).")
    st.stop()
store = kept.store
bridge = call.bridge()
shown = hosting.calls_shown()  # whose calls are listed (None: everyone's)
mine = hosting.calls_owner(hosting.policy())  # whose this visitor may delete (None: any)
if shown is not None:
    st.caption("Your own calls on this demo; nobody else sees them.")
elif mine is not None:
    st.caption("Every visitor's calls on this demo (its host shares them); you delete only yours.")


def _when(at: float | None) -> str:
    return "—" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _replay_status() -> None:
    job = state.replay()
    if job is None:
        return
    if not job.future.done():
        st.info("Replaying at real time… the new call appears in the list when it is done.")
        return
    result, problem = replays.outcome(job)
    if problem:
        st.error(problem)
    elif result is not None:
        st.success(f"Replayed into call {result.history_id}; pick both rows to compare.")


@st.fragment(run_every=2.0 if (state.replay() and not state.replay().future.done()) else None)
def _calls() -> None:
    _replay_status()
    calls = store.list_calls(200, shown)
    if not calls:
        st.caption("No calls yet: each call is kept here as it happens.")
        return
    table = pd.DataFrame(
        [
            {
                "when": _when(c.started_at),
                "backend": c.backend,
                "model": c.model,
                "duration s": None if c.duration_s is None else round(c.duration_s, 1),
                "turns": c.turns,
                "p50 voice to voice ms": c.v2v_p50_ms,
                "cost US$ (est.)": c.cost_usd,
                "audio": "yes" if c.has_audio else "",
                "live": "●" if c.ended_at is None and c.call_id == bridge.history_id else "",
            }
            for c in calls
        ]
    )
    picked = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key=state.HISTORY_TABLE,
    )
    rows = list(picked.selection.rows) if picked is not None else []
    st.caption("Pick one call to open it, two to compare them.")
    if len(rows) == 1:
        _open(calls[rows[0]].call_id)
    elif len(rows) == 2:
        _compare(calls[rows[0]].call_id, calls[rows[1]].call_id)
    elif len(rows) > 2:
        st.warning("Compare takes two calls: pick two rows.")


def _open(call_id: str) -> None:
    stored = store.load(call_id, shown)
    if stored is None:
        st.warning("That call is gone (deleted or pruned).")
        return
    s = stored.summary
    st.subheader(f"{_when(s.started_at)} · {s.backend} · {s.model}")
    if stored.problem:
        st.caption(f"Ended: {plain(stored.problem)}")
    conversation, side = st.columns([3, 2])
    with conversation:
        for turn in stored.turns:
            with st.chat_message("user" if turn.get("role") == "user" else "assistant"):
                st.markdown(plain(str(turn.get("text") or "…")))
                latency = turn.get("latency") or {}
                if latency.get("voice_to_voice_ms") is not None:
                    st.caption(f"voice to voice {latency['voice_to_voice_ms']:.0f} ms")
    with side:
        wav = store.wav_bytes(call_id)
        if wav is not None:
            st.audio(wav, format="audio/wav")
            st.caption("Left: what went to the model (you). Right: what the browser got.")
        stages = [
            (t.get("latency") or {}).get("stages_ms") or {}
            for t in stored.turns
            if (t.get("latency") or {}).get("at_bridge_ms") is not None
        ]
        call_figures.latency(stages, stored.figures.get("stages_ms") or {})
        call_figures.usage(stored.figures.get("tokens") or {}, s.cost_usd, s.backend)
        with st.expander("Settings"):
            st.json(stored.settings)
        with st.expander(f"Events ({len(stored.events)})"):
            st.caption("The Events page filters, searches and downloads them.")
        export, replay, delete = st.columns(3)
        export.download_button(
            "Export zip",
            lambda: export_zip(stored, wav),  # built on click, not on every run
            file_name=f"voicelab-{call_id}.zip",
            mime="application/zip",
            on_click="ignore",
        )
        request = state.call_request()
        if wav is not None and replay.button(
            "Replay",
            help="Run this call's microphone through a new call with the sidebar's current "
            "settings, then compare the two.",
        ):
            if not isinstance(request.target, Target) or request.config is None:
                st.warning(str(request.target))
            elif problem := replays.start(call_id, wav, request.target, request.config):
                st.warning(problem)
            else:
                st.rerun()
        if (mine is None or s.owner == mine) and delete.button("Delete", type="secondary"):
            store.delete(call_id, mine)
            st.rerun()


def _compare(first: str, second: str) -> None:
    a, b = store.load(first, shown), store.load(second, shown)
    if a is None or b is None:
        st.warning("One of those calls is gone.")
        return
    st.subheader("Compare")
    names = f"A: {_when(a.summary.started_at)}", f"B: {_when(b.summary.started_at)}"
    diff = settings_diff(a, b)
    st.markdown("**Settings that differ**")
    if diff:
        st.dataframe(
            pd.DataFrame(
                [{"setting": d.name, names[0]: str(d.a), names[1]: str(d.b)} for d in diff]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("The same settings.")
    st.markdown("**Figures**")
    st.dataframe(
        pd.DataFrame(
            [{"figure": r.name, names[0]: r.a, names[1]: r.b} for r in figures_rows(a, b)]
        ),
        hide_index=True,
        width="stretch",
    )


_calls()
if mine is None and st.button("Delete all calls", help="Removes every stored call and its audio."):
    store.delete_all()
    st.rerun()
elif mine is not None and st.button("Delete all my calls", help="Removes your calls and audio."):
    store.delete_all(mine)
    st.rerun()
