"""The two level meters and the VAD timeline of the last 30 s: the user's level, the
model's, where the server heard speech (on the uplink's clock), when it was answering,
where the user cut in, and, for the local backend, the level its threshold asks for."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from voicelab.call import Meters
from voicelab.media.level_ring import SILENT_DBFS

WINDOW_S = 30.0
BIN_S = 0.1  # one point per 100 ms: the eye sees no more at this width
FLOOR_DBFS = -80.0


def _bins(times: np.ndarray, dbfs: np.ndarray, now: float) -> pd.DataFrame:
    """The loudest frame of each bin, as seconds before now."""
    if not len(times):
        return pd.DataFrame({"t": [], "dBFS": []})
    bins = np.floor((times - now) / BIN_S).astype(int)
    frame = pd.DataFrame({"bin": bins, "dBFS": np.maximum(dbfs, FLOOR_DBFS)})
    top = frame.groupby("bin", sort=True)["dBFS"].max().reset_index()
    return pd.DataFrame({"t": top["bin"] * BIN_S, "dBFS": top["dBFS"]})


def meter(label: str, dbfs: float) -> None:
    shown = max(dbfs, FLOOR_DBFS)
    st.progress(
        (shown - FLOOR_DBFS) / -FLOOR_DBFS,
        text=f"{label}: {'silent' if dbfs <= SILENT_DBFS else f'{dbfs:.0f} dBFS'}",
    )


def timeline_chart(meters: Meters) -> alt.LayerChart:
    now = meters.now
    levels = pd.concat(
        [
            _bins(meters.uplink.times, meters.uplink.dbfs, now).assign(who="you"),
            _bins(meters.output.times, meters.output.dbfs, now).assign(who="model"),
        ]
    )
    spans = pd.DataFrame(
        [
            {
                "start": max(s.start - now, -WINDOW_S),
                "end": (s.end if s.end is not None else now) - now,
                "what": "speech (server)" if s.kind == "speech" else "answering",
                "detail": s.detail,
            }
            for s in meters.spans
        ],
        columns=["start", "end", "what", "detail"],
    ).assign(lo=FLOOR_DBFS, hi=0.0)
    x = alt.X("t:Q", title="seconds", scale=alt.Scale(domain=[-WINDOW_S, 0]))
    y = alt.Y("dBFS:Q", scale=alt.Scale(domain=[FLOOR_DBFS, 0]), title="dBFS")
    colours = alt.Scale(
        domain=["you", "model", "speech (server)", "answering"],
        range=["#1f77b4", "#9467bd", "#aec7e8", "#ffbb78"],
    )
    layers: list[alt.Chart] = [
        alt.Chart(spans)
        .mark_rect(opacity=0.45)
        .encode(
            x=alt.X("start:Q", scale=alt.Scale(domain=[-WINDOW_S, 0])),
            x2="end:Q",
            y=alt.Y("lo:Q", scale=alt.Scale(domain=[FLOOR_DBFS, 0])),
            y2="hi:Q",
            color=alt.Color("what:N", scale=colours, title=None),
            tooltip=["what:N", "detail:N"],
        ),
        alt.Chart(levels)
        .mark_line(strokeWidth=1.5, interpolate="step-after")
        .encode(x=x, y=y, color=alt.Color("who:N", scale=colours, title=None), tooltip=[]),
    ]
    if meters.marks:
        marks = pd.DataFrame({"t": [m.at - now for m in meters.marks], "label": "interrupted"})
        layers.append(alt.Chart(marks).mark_rule(color="red", strokeWidth=2).encode(x="t:Q"))
    if meters.threshold_dbfs is not None:
        line = pd.DataFrame({"dBFS": [meters.threshold_dbfs]})
        layers.append(
            alt.Chart(line)
            .mark_rule(strokeDash=[4, 3], color="gray")
            .encode(y="dBFS:Q", tooltip=[alt.Tooltip("dBFS:Q", title="threshold level")])
        )
    return alt.layer(*layers).properties(height=170).configure_legend(orient="bottom")


def render(meters: Meters | None) -> None:
    you, model = st.columns(2)
    with you:
        meter("You", meters.uplink.latest() if meters else SILENT_DBFS)
    with model:
        meter("Model", meters.output.latest() if meters else SILENT_DBFS)
    if meters is None:
        st.caption("The VAD timeline appears once a call starts.")
        return
    st.altair_chart(timeline_chart(meters), width="stretch", height=220)
    if meters.threshold_dbfs is not None:
        st.caption(
            f"Shaded blue: where the server heard speech. Dashed: the level clear speech "
            f"needs at this threshold ({meters.threshold_dbfs:.0f} dBFS)."
        )
    else:
        st.caption("Shaded blue: where the server heard speech; orange: answering.")
