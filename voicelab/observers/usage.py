"""Tokens and their estimated cost, per response and for the call, from
``response.done.usage``: the server's own counts, priced by ``voicelab.pricing``."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicelab.observers.stream import Direction
from voicelab.pricing import PriceTable, Tokens


@dataclass(frozen=True)
class ResponseUsage:
    response_id: str
    item_ids: tuple[str, ...]  # what the response said
    status: str
    tokens: Tokens
    cost_usd: float | None


@dataclass(frozen=True)
class UsageTotals:
    responses: int = 0
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float | None = 0.0  # None: a response had no price
    priced_as_of: str = ""


class UsageMeter:
    """Runs on the call's loop; read under the stream's lock."""

    def __init__(self, backend: str, model: str | None, table: PriceTable, keep: int = 500):
        self.backend, self.model, self.table = backend, model, table
        self._responses: deque[ResponseUsage] = deque(maxlen=keep)
        self._totals = UsageTotals(priced_as_of=table.as_of)

    def totals(self) -> UsageTotals:
        return self._totals

    def responses(self) -> tuple[ResponseUsage, ...]:
        return tuple(self._responses)

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        if direction != "received":
            return
        kind = event.get("type")
        if kind == "session.created" or kind == "session.updated":
            session = event.get("session")
            if isinstance(session, Mapping) and isinstance(session.get("model"), str):
                self.model = session["model"]
        elif kind == "response.done":
            self._done(event.get("response"))

    def _done(self, response: Any) -> None:
        if not isinstance(response, Mapping):
            return
        tokens = Tokens.of(response.get("usage"))
        cost = self.table.cost(self.backend, self.model, tokens)
        output = response.get("output") or []
        items = tuple(
            str(item.get("id")) for item in output if isinstance(item, Mapping) and item.get("id")
        )
        self._responses.append(
            ResponseUsage(str(response.get("id")), items, str(response.get("status")), tokens, cost)
        )
        total = self._totals
        self._totals = UsageTotals(
            responses=total.responses + 1,
            tokens=total.tokens + tokens,
            cost_usd=None if cost is None or total.cost_usd is None else total.cost_usd + cost,
            priced_as_of=self.table.as_of,
        )
