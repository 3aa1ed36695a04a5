"""A call's figures, as the page, the history list and Compare read them: one function, so
a live call and a stored one are counted the same way."""

from __future__ import annotations

import time
from typing import Any

from voicelab.observers.latency import TurnLatency, percentiles
from voicelab.observers.transcript import Turn
from voicelab.observers.usage import ResponseUsage, UsageTotals


def wall_time(monotonic_at: float) -> float:
    """``time.time()`` of a ``time.monotonic()`` reading."""
    return time.time() - (time.monotonic() - monotonic_at)


def call_figures(
    turns: tuple[Turn, ...],
    latency: tuple[TurnLatency, ...],
    usage: UsageTotals,
    duration_s: float,
) -> dict[str, Any]:
    spread = percentiles(latency)
    v2v = spread.get("voice to voice", {})
    return {
        "duration_s": round(duration_s, 2),
        "turns": sum(1 for t in turns if t.role == "user"),
        "replies": sum(1 for t in turns if t.role == "assistant"),
        "interruptions": sum(1 for t in turns if t.status == "interrupted"),
        "v2v_p50_ms": v2v.get(50),
        "v2v_p95_ms": v2v.get(95),
        "stages_ms": {name: {str(q): v for q, v in by_q.items()} for name, by_q in spread.items()},
        "responses": usage.responses,
        "tokens": usage.tokens.as_dict(),
        "cost_usd": usage.cost_usd,
        "priced_as_of": usage.priced_as_of,
    }


def turn_record(
    turn: Turn,
    at: float | None,
    latency: TurnLatency | None,
    usage: ResponseUsage | None,
) -> dict[str, Any]:
    """One turn as the history keeps it: JSON-able, times as wall-clock seconds."""
    return {
        "item_id": turn.item_id,
        "role": turn.role,
        "text": turn.text,
        "status": turn.status,
        "at": None if at is None else round(wall_time(at), 3),
        "latency": None if latency is None else latency.as_dict(),
        "tokens": None if usage is None else usage.tokens.as_dict(),
        "cost_usd": None if usage is None else usage.cost_usd,
    }
