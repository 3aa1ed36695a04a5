"""The two level meters and the VAD timeline of the last 30 s: the user's level, the
model's, where the server heard speech (on the uplink's clock), when it was answering,
where the user cut in, and, for the local backend, the level its threshold asks for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from voicelab.call import Meters
from voicelab.media.level_ring import SILENT_DBFS

WINDOW_S = 30.0
BIN_S = 0.2  # one point per 200 ms: the eye sees no more at this width
FLOOR_DBFS = -80.0


def _bins(times: np.ndarray, dbfs: np.ndarray, now: float) -> pd.DataFrame:
    """The loudest frame of each bin, as seconds before now."""
    if not len(times):
        return pd.DataFrame({"t": [], "dBFS": []})
    bins = np.floor((times - now) / BIN_S).astype(int)
    frame = pd.DataFrame({"bin": bins, "dBFS": np.maximum(dbfs, FLOOR_DBFS)})
    top = frame.groupby("bin", sort=True)["dBFS"].max().reset_index()
    return pd.DataFrame({"t": top["bin"] * BIN_S, "dBFS": top["dBFS"]})


#: A bar with no transition: an animated one (st.progress) kept the browser drawing frames
#: between every update, the biggest share of the page's cost (docs/performance.md).
_METER = (
    '<div style="font-size:0.875rem">{label}: {value}</div>'
    '<div style="height:6px;background:rgba(151,166,195,0.25);border-radius:3px">'
    '<div style="height:6px;width:{pct:.0f}%;background:{colour};border-radius:3px"></div></div>'
)


def meter(label: str, dbfs: float, colour: str) -> None:
    shown = max(dbfs, FLOOR_DBFS)
    value = "silent" if dbfs <= SILENT_DBFS else f"{dbfs:.0f} dBFS"
    pct = 100 * (shown - FLOOR_DBFS) / -FLOOR_DBFS
    st.html(_METER.format(label=label, value=value, pct=pct, colour=colour))


#: One spec for every redraw: only the data changes between runs, so the browser updates
#: the chart's data in place instead of building a new chart twice a second.
_COLOURS = {
    "domain": ["you", "model", "speech (server)", "answering"],
    "range": ["#1f77b4", "#9467bd", "#aec7e8", "#ffbb78"],
}
_X = {"field": "t", "type": "quantitative", "title": "seconds", "scale": {"domain": [-WINDOW_S, 0]}}
_Y = {"field": "dBFS", "type": "quantitative", "scale": {"domain": [FLOOR_DBFS, 0]}}
TIMELINE_SPEC: dict = {
    "height": 170,
    "layer": [
        {
            "transform": [{"filter": "datum.row == 'span'"}],
            "mark": {"type": "rect", "opacity": 0.45},
            "encoding": {
                "x": _X,
                "x2": {"field": "t2"},
                "y": {**_Y, "field": "lo"},
                "y2": {"field": "hi"},
                "color": {"field": "what", "type": "nominal", "scale": _COLOURS, "title": None},
                "tooltip": [{"field": "what"}, {"field": "detail"}],
            },
        },
        {
            "transform": [{"filter": "datum.row == 'level'"}],
            "mark": {"type": "line", "strokeWidth": 1.5, "interpolate": "step-after"},
            "encoding": {
                "x": _X,
                "y": {**_Y, "title": "dBFS"},
                "color": {"field": "what", "type": "nominal", "scale": _COLOURS, "title": None},
            },
        },
        {
            "transform": [{"filter": "datum.row == 'cut'"}],
            "mark": {"type": "rule", "color": "red", "strokeWidth": 2},
            "encoding": {"x": _X},
        },
        {
            "transform": [{"filter": "datum.row == 'threshold'"}],
            "mark": {"type": "rule", "strokeDash": [4, 3], "color": "gray"},
            "encoding": {"y": _Y, "tooltip": [{"field": "detail"}]},
        },
    ],
    "config": {"legend": {"orient": "bottom"}},
}


def timeline_rows(meters: Meters) -> pd.DataFrame:
    """Everything the timeline draws, one table: levels, spans, cuts, the threshold."""
    now = meters.now
    parts = [
        _bins(meters.uplink.times, meters.uplink.dbfs, now).assign(row="level", what="you"),
        _bins(meters.output.times, meters.output.dbfs, now).assign(row="level", what="model"),
    ]
    rows = [
        {
            "row": "span",
            "what": "speech (server)" if s.kind == "speech" else "answering",
            "t": max(s.start - now, -WINDOW_S),
            "t2": (s.end if s.end is not None else now) - now,
            "lo": FLOOR_DBFS,
            "hi": 0.0,
            "detail": s.detail,
        }
        for s in meters.spans
    ]
    rows += [{"row": "cut", "what": "interrupted", "t": m.at - now} for m in meters.marks]
    if meters.threshold_dbfs is not None:
        rows.append(
            {
                "row": "threshold",
                "what": "threshold",
                "dBFS": meters.threshold_dbfs,
                "detail": f"threshold level {meters.threshold_dbfs:.0f} dBFS",
            }
        )
    columns = ["row", "what", "t", "t2", "dBFS", "lo", "hi", "detail"]
    return pd.concat([*parts, pd.DataFrame(rows, columns=columns)]).reindex(columns=columns)


def render(meters: Meters | None) -> None:
    you, model = st.columns(2)
    with you:
        meter("You", meters.uplink.latest() if meters else SILENT_DBFS, _COLOURS["range"][0])
    with model:
        meter("Model", meters.output.latest() if meters else SILENT_DBFS, _COLOURS["range"][1])
    if meters is None:
        st.caption("The VAD timeline appears once a call starts.")
        return
    st.vega_lite_chart(timeline_rows(meters), TIMELINE_SPEC, width="stretch", height=220)
    if meters.threshold_dbfs is not None:
        st.caption(
            f"Shaded blue: where the server heard speech. Dashed: the level clear speech "
            f"needs at this threshold ({meters.threshold_dbfs:.0f} dBFS)."
        )
    else:
        st.caption("Shaded blue: where the server heard speech; orange: answering.")
