"""The Events page's rows: one shape for the live call's log and a stored call's events,
the filter the page applies, and the JSONL it downloads. Pure, so it is tested without
Streamlit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    seq: int
    wall: float  # time.time()
    direction: str
    event: Mapping[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))

    def line(self) -> str:
        return json.dumps(
            {"seq": self.seq, "at": self.wall, "direction": self.direction, "event": self.event},
            ensure_ascii=False,
            default=str,
        )


def rows(entries: Iterable[Any]) -> list[Row]:
    """From ``Logged`` (the live call: ``wall``) or ``StoredEvent`` (history: ``at``)."""
    return [Row(e.seq, getattr(e, "wall", None) or e.at, e.direction, e.event) for e in entries]


def matches(row: Row, prefix: str = "", direction: str = "both", search: str = "") -> bool:
    if prefix and not row.type.startswith(prefix.strip()):
        return False
    if direction in ("sent", "received") and row.direction != direction:
        return False
    return not search or search.lower() in json.dumps(row.event, default=str).lower()


def select(rows_: Iterable[Row], prefix: str = "", direction: str = "both", search: str = ""):
    return [r for r in rows_ if matches(r, prefix, direction, search)]


def jsonl(rows_: Iterable[Row]) -> str:
    return "".join(r.line() + "\n" for r in rows_)


def table(rows_: list[Row]) -> list[dict[str, Any]]:
    """What the page's table shows of each row."""
    return [
        {
            "#": r.seq,
            "time": time.strftime("%H:%M:%S", time.localtime(r.wall))
            + f".{int(r.wall % 1 * 1000):03d}",
            "dir": "→ sent" if r.direction == "sent" else "← received",
            "type": r.type,
        }
        for r in rows_
    ]
