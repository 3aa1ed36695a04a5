"""What the page's live view draws, as plain JSON: the call's state in words, the two level
meters, the VAD timeline of the last 30 s, the turns still streaming, and a version for each
part of the page that Streamlit draws, so the browser asks for a rerun of that part only
when it has changed.

It is read by the browser several times a second (``route.py``) instead of Streamlit
rerunning fragments on a timer: a rerun makes the frontend re-render every element on the
page, which on Talk cost Chromium far more than the call itself (docs/performance.md).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from components import conversation
from voicelab.call import CONNECTED, CONNECTING, ERROR, Bridge, Meters, Snapshot
from voicelab.call.renewal import RenewalPolicy
from voicelab.media.level_ring import SILENT_DBFS
from voicelab.observers.latency import TurnLatency

WINDOW_S = 30.0
BIN_S = 0.2  # one point per 200 ms: the eye sees no more at this width
FLOOR_DBFS = -80.0
ERRORS_SHOWN = 3

_WORDS = {
    "listening": ("Listening", "green"),
    "you are speaking": ("You are speaking", "blue"),
    "thinking": ("Thinking", "orange"),
    "speaking": ("Speaking", "violet"),
}


def state_words(snap: Snapshot, had_call: bool) -> tuple[str, str]:
    """(words, colour) for the state line."""
    if snap.recovery is not None and snap.status in (CONNECTING, ERROR):
        return snap.recovery.words, "orange"  # "Reconnecting (2 of 5)…"
    if snap.status == CONNECTING:
        return "Connecting…", "orange"
    if snap.status == CONNECTED:
        return _WORDS.get(snap.activity, (snap.activity.capitalize(), "gray"))
    if snap.status == ERROR:
        return ("Ended", "red") if had_call else ("Could not start", "red")
    if had_call:
        return "Ended", "gray"
    return "Not in a call: press Start and allow the microphone", "gray"


def cap_words(snap: Snapshot, policy: RenewalPolicy, now: float) -> str | None:
    """The countdown to the session's maximum duration, in its last minutes."""
    if snap.status != CONNECTED:
        return None
    if snap.renewing:
        return "Renewing the session: the conversation moves to it in the next pause."
    left = policy.counting_down(snap.expires_at, now)
    if left is None:
        return None
    minutes, seconds = divmod(int(left), 60)
    return (
        f"This session reaches its time limit in {minutes}:{seconds:02d}; "
        "it is renewed before then, in a pause, with the conversation."
    )


def details(snap: Snapshot) -> str:
    """The technical line behind the words."""
    parts = [snap.status.capitalize()]
    if snap.status in (CONNECTING, CONNECTED):
        parts.append(f"ICE {snap.ice_state}")
    if snap.call_id:
        parts.append(f"call {snap.call_id}")
    if snap.connect_ms is not None and snap.status == CONNECTED:
        parts.append(f"session in {snap.connect_ms:.0f} ms")
    parts.append(f"mic frames {snap.mic_frames}")
    return " · ".join(parts)


def bins(times: np.ndarray, dbfs: np.ndarray, now: float) -> list[float | None]:
    """The loudest frame's dBFS in each ``BIN_S`` of the last ``WINDOW_S``, oldest first;
    ``None`` where no frame went out. One flat list, a bin's time given by its place: the
    browser parses it several times a second."""
    n = round(WINDOW_S / BIN_S)
    out = np.full(n, -np.inf)
    keep = (times >= now - WINDOW_S) & (times <= now)
    index = np.minimum(((times[keep] - (now - WINDOW_S)) / BIN_S).astype(int), n - 1)
    np.maximum.at(out, index, np.maximum(dbfs[keep], FLOOR_DBFS))
    return [round(float(v), 1) if v > -np.inf else None for v in out]


def timeline(meters: Meters) -> dict[str, Any]:
    """Everything the timeline and the meters draw, in seconds before ``meters.now``."""
    now = meters.now
    return {
        "you": round(meters.uplink.latest(), 1),
        "model": round(meters.output.latest(), 1),
        "you_levels": bins(meters.uplink.times, meters.uplink.dbfs, now),
        "model_levels": bins(meters.output.times, meters.output.dbfs, now),
        "spans": [
            {
                "what": "speech" if s.kind == "speech" else "answering",
                "t": round(max(s.start - now, -WINDOW_S), 2),
                "t2": round((s.end if s.end is not None else now) - now, 2),
                "detail": s.detail,
            }
            for s in meters.spans
            if (s.end if s.end is not None else now) >= now - WINDOW_S
        ],
        "cuts": [round(m.at - now, 2) for m in meters.marks if m.at >= now - WINDOW_S],
        "silent": SILENT_DBFS,
        "floor": FLOOR_DBFS,
        "window": WINDOW_S,
        "bin": BIN_S,
        "threshold": (
            round(meters.threshold_dbfs, 1) if meters.threshold_dbfs is not None else None
        ),
    }


def _version(*parts: Any) -> int:
    """Small enough to stay exact as a JavaScript number."""
    return hash(parts) & 0xFFFF_FFFF_FFFF


def versions(snap: Snapshot) -> dict[str, int]:
    """A number per Streamlit-drawn part that changes exactly when what it shows does."""
    return {
        "settled": conversation.settled(snap),
        # a turn's latency is complete (its first audio out) before its response is done
        "figures": _version(snap.usage.tokens, snap.usage.cost_usd),
        "live": _version(tuple(snap.live.fields.items()), snap.live.refusal, snap.status),
    }


def complete_latency(snap: Snapshot) -> tuple[TurnLatency, ...]:
    """The turns whose answer has reached the browser leg: what the figures show."""
    return tuple(t for t in snap.latency if t.at_bridge_ms)


def feed(bridge: Bridge, first_turn: int = 0) -> dict[str, Any]:
    """One reading of the call for the page, with the turns from ``first_turn`` on."""
    snap = bridge.snapshot()
    words, colour = state_words(snap, bridge.history_id is not None or bool(snap.turns))
    meters = bridge.meters(WINDOW_S)
    return {
        "active": bridge.active,
        "state": {
            "words": words,
            "colour": colour,
            "details": details(snap),
            "problem": snap.problem,
            "cap": cap_words(snap, bridge.renewal, time.time()),
            "errors": list(snap.errors[-ERRORS_SHOWN:]),
        },
        "meters": timeline(meters) if meters is not None else None,
        "turns": conversation.streaming(snap, first_turn),
        "versions": versions(snap),
    }
