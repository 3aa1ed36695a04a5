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


def key(turn: Turn) -> str:
    """The turn's element key: the page's and the live view's drawing of it share it."""
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
    change, so Streamlit draws them once, and the live view draws the rest as they
    stream."""
    n = 0
    for turn in snap.turns:
        if not turn.final or (
            turn.role == "assistant" and snap.usage_of_item(turn.item_id) is None
        ):
            break
        n += 1
    return n


def shown(snap: Snapshot, start: int, stop: int | None = None) -> tuple[Turn, ...]:
    """Turns ``start:stop`` of the conversation, of the newest ``SHOWN_TURNS``."""
    newest = snap.turns[-SHOWN_TURNS:]
    offset = len(snap.turns) - len(newest)
    return newest[max(0, start - offset) : None if stop is None else max(0, stop - offset)]


def streaming(snap: Snapshot, start: int) -> list[dict[str, object]]:
    """Turns ``start:`` (of the newest ``SHOWN_TURNS``) for the live view, which draws the
    ones the page has not (JSON); each with its index in the conversation."""
    first = max(0, start, len(snap.turns) - SHOWN_TURNS)
    return [
        {
            "index": first + i,
            "key": key(turn),
            "role": "user" if turn.role == "user" else "assistant",
            "text": turn.text,
            "status": turn.status,
            "meta": meta(snap, turn),
        }
        for i, turn in enumerate(snap.turns[first:])
    ]


def turns(snap: Snapshot, start: int, stop: int | None = None) -> None:
    """Turns ``start:stop`` (of the newest ``SHOWN_TURNS``), where the caller is."""
    for turn in shown(snap, start, stop):
        role = "user" if turn.role == "user" else "assistant"
        with st.container(key=key(turn)), st.chat_message(role):
            st.markdown(f"{plain(turn.text) or '…'}{MARKS.get(turn.status, '')}")
            if line := meta(snap, turn):
                st.caption(line)
