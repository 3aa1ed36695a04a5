"""The conversation as one stream in item order: the user's and the model's turns
interleaved, text as it streams, each turn with its time and, for an answer, its
voice-to-voice latency, tokens and estimated cost."""

from __future__ import annotations

import re
import time

import streamlit as st

from components.plain_text import plain
from voicelab.call import Snapshot
from voicelab.call.figures import wall_time
from voicelab.observers.transcript import Turn

MARKS = {"streaming": " …", "interrupted": " ⟂ *(interrupted)*", "failed": " *(failed)*"}
SHOWN_TURNS = 30  # the newest; History has them all


def _key(turn: Turn) -> str:
    return f"turn-{turn.role}-{re.sub(r'[^A-Za-z0-9_-]', '_', turn.item_id)}"


def meta(snap: Snapshot, turn: Turn) -> str:
    """ "12:01:03 · voice to voice 930 ms · 412 tokens · $0.0031 (est.)"."""
    parts = []
    at = snap.item_times.get(turn.item_id)
    if at is not None:
        parts.append(time.strftime("%H:%M:%S", time.localtime(wall_time(at))))
    if turn.role == "assistant":
        latency = snap.latency_of_reply(turn.item_id)
        if latency is not None and latency.voice_to_voice_ms is not None:
            parts.append(f"voice to voice {latency.voice_to_voice_ms:.0f} ms")
        usage = snap.usage_of_item(turn.item_id)
        if usage is not None:
            parts.append(f"{usage.tokens.input + usage.tokens.output} tokens")
            if usage.cost_usd is not None:
                parts.append(f"${usage.cost_usd:.4f} (est.)")
    return " · ".join(parts)


def settled(snap: Snapshot) -> int:
    """How many turns, from the first, are over and have their figures: they no longer
    change, so the page draws them once (on a full run) and polls only the rest."""
    n = 0
    for turn in snap.turns:
        if not turn.final or (
            turn.role == "assistant" and snap.usage_of_item(turn.item_id) is None
        ):
            break
        n += 1
    return n


def turns(snap: Snapshot, start: int, stop: int | None = None) -> None:
    """Turns ``start:stop`` (of the newest ``SHOWN_TURNS``), where the caller is."""
    shown = snap.turns[-SHOWN_TURNS:]
    offset = len(snap.turns) - len(shown)
    for turn in shown[max(0, start - offset) : None if stop is None else max(0, stop - offset)]:
        role = "user" if turn.role == "user" else "assistant"
        with st.container(key=_key(turn)), st.chat_message(role):
            st.markdown(f"{plain(turn.text) or '…'}{MARKS.get(turn.status, '')}")
            if line := meta(snap, turn):
                st.caption(line)
