"""A call's latency per turn (stacked by stage, with p50/p95) and its usage and estimated
cost. Drawn for the live call from its snapshot and for a stored call from its records, so
both read the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from voicelab.pricing import prices

STAGE_ORDER = (
    "browser → bridge",
    "speech end → stopped",
    "stopped → response",
    "response → first audio",
    "bridge → browser",
    "page playout",
)


def latency_chart(stages_per_turn: Sequence[Mapping[str, float | None]]) -> alt.Chart | None:
    rows = [
        {"turn": n, "stage": stage, "ms": ms, "order": STAGE_ORDER.index(stage)}
        for n, stages in enumerate(stages_per_turn, start=1)
        for stage, ms in stages.items()
        if ms is not None and stage in STAGE_ORDER
    ]
    if not rows:
        return None
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(
            x=alt.X("turn:O", title="turn"),
            y=alt.Y("sum(ms):Q", title="voice to voice, ms"),
            color=alt.Color("stage:N", sort=list(STAGE_ORDER), title=None),
            order=alt.Order("order:Q"),
            tooltip=["turn", "stage", "ms"],
        )
        .properties(height=220)
    )


def percentile_table(spread: Mapping[str, Mapping[Any, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "stage": name,
                "p50 ms": by_q.get(50, by_q.get("50")),
                "p95 ms": by_q.get(95, by_q.get("95")),
            }
            for name, by_q in spread.items()
        ]
    )


def latency(stages_per_turn: Sequence[Mapping[str, float | None]], spread: Mapping) -> None:
    chart = latency_chart(stages_per_turn)
    if chart is None:
        st.caption("Latency appears after the first spoken turn is answered.")
        return
    st.altair_chart(chart, width="stretch")
    # a plain table: the data grid is a canvas that costs the page far more to redraw
    st.table(percentile_table(spread).set_index("stage").style.format("{:.0f}", na_rep="–"))
    st.caption(
        "Browser → bridge and page playout are the browser leg's two jitter buffers, "
        "estimated (80 ms each); every other stage is measured at the bridge."
    )


def usage(tokens: Mapping[str, int], cost_usd: float | None, backend: str) -> None:
    table = prices()
    cols = st.columns(2) + st.columns(2)
    cols[0].metric("Input tokens", f"{tokens.get('text_in', 0) + tokens.get('audio_in', 0):,}")
    cols[1].metric(
        "Cached", f"{tokens.get('cached_text_in', 0) + tokens.get('cached_audio_in', 0):,}"
    )
    cols[2].metric("Output tokens", f"{tokens.get('text_out', 0) + tokens.get('audio_out', 0):,}")
    cols[3].metric("Cost (est.)", "—" if cost_usd is None else f"${cost_usd:.4f}")
    st.caption(
        f"Text in {tokens.get('text_in', 0):,} · audio in {tokens.get('audio_in', 0):,} · "
        f"text out {tokens.get('text_out', 0):,} · audio out {tokens.get('audio_out', 0):,}. "
        + (
            "The local backend costs nothing; its tokens are counted the way OpenAI counts."
            if backend == "local"
            else f"An estimate from the price table of {table.as_of} "
            "(voicelab/data/prices.json); OpenAI's bill is what counts."
        )
    )
