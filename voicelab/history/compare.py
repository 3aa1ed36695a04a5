"""Two stored calls side by side: the settings that differ, and the figures that tell
whether the change helped (turns, interruptions, latency per stage, cost)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicelab.history.records import StoredCall


@dataclass(frozen=True)
class Difference:
    name: str
    a: Any
    b: Any


def settings_diff(a: StoredCall, b: StoredCall) -> list[Difference]:
    names = sorted(set(a.settings) | set(b.settings))
    found = [Difference(n, a.settings.get(n), b.settings.get(n)) for n in names]
    if a.summary.backend != b.summary.backend:
        found.insert(0, Difference("backend", a.summary.backend, b.summary.backend))
    return [d for d in found if d.a != d.b]


def _stage(figures: dict[str, Any], stage: str, q: str) -> float | None:
    value = (figures.get("stages_ms") or {}).get(stage, {}).get(q)
    return value if isinstance(value, (int, float)) else None


def figures_rows(a: StoredCall, b: StoredCall) -> list[Difference]:
    """Every figure, each call's value; stages appear as "p50 <stage>"."""
    fa, fb = a.figures, b.figures
    rows = [
        Difference(name, fa.get(key), fb.get(key))
        for name, key in (
            ("duration, s", "duration_s"),
            ("turns", "turns"),
            ("replies", "replies"),
            ("interruptions", "interruptions"),
            ("p50 voice to voice, ms", "v2v_p50_ms"),
            ("p95 voice to voice, ms", "v2v_p95_ms"),
            ("cost, US$ (est.)", "cost_usd"),
        )
    ]
    stages = sorted(set(fa.get("stages_ms") or {}) | set(fb.get("stages_ms") or {}))
    for stage in stages:
        if stage == "voice to voice":
            continue
        for q in ("50", "95"):
            rows.append(Difference(f"p{q} {stage}, ms", _stage(fa, stage, q), _stage(fb, stage, q)))
    return rows
