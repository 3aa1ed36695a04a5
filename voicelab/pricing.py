"""What a response cost, from a dated price table per model (``voicelab/data/prices.json``).

The figures are an estimate: they follow the published per-token prices on the table's
date, and OpenAI's bill is what counts. Update the table, not the code, when prices move.
The local backend is priced by backend (free), whatever model name it was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_RATES = ("audio_in", "cached_audio_in", "audio_out", "text_in", "cached_text_in", "text_out")


@dataclass(frozen=True)
class Tokens:
    """One response's usage, split the way prices are."""

    text_in: int = 0
    audio_in: int = 0
    cached_text_in: int = 0
    cached_audio_in: int = 0
    text_out: int = 0
    audio_out: int = 0

    @classmethod
    def of(cls, usage: Mapping[str, Any] | None) -> Tokens:
        """From ``response.done.usage``. Cached tokens are part of the input counts; when
        the server does not split them by kind they are shared out in proportion."""
        if not isinstance(usage, Mapping):
            return cls()
        inp = usage.get("input_token_details") or {}
        out = usage.get("output_token_details") or {}
        text_in, audio_in = _int(inp.get("text_tokens")), _int(inp.get("audio_tokens"))
        cached = _int(inp.get("cached_tokens"))
        split = inp.get("cached_tokens_details") or {}
        if split:
            cached_text = _int(split.get("text_tokens"))
            cached_audio = _int(split.get("audio_tokens"))
        else:
            total = text_in + audio_in
            cached_audio = round(cached * audio_in / total) if total else 0
            cached_text = cached - cached_audio
        return cls(
            text_in=text_in,
            audio_in=audio_in,
            cached_text_in=min(cached_text, text_in),
            cached_audio_in=min(cached_audio, audio_in),
            text_out=_int(out.get("text_tokens")),
            audio_out=_int(out.get("audio_tokens")),
        )

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, ...]:
        return (
            self.text_in,
            self.audio_in,
            self.cached_text_in,
            self.cached_audio_in,
            self.text_out,
            self.audio_out,
        )

    @property
    def input(self) -> int:
        return self.text_in + self.audio_in

    @property
    def output(self) -> int:
        return self.text_out + self.audio_out

    def as_dict(self) -> dict[str, int]:
        return {
            "text_in": self.text_in,
            "audio_in": self.audio_in,
            "cached_text_in": self.cached_text_in,
            "cached_audio_in": self.cached_audio_in,
            "text_out": self.text_out,
            "audio_out": self.audio_out,
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    source: str
    models: Mapping[str, Mapping[str, float]]
    backends: Mapping[str, Mapping[str, float]]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTable:
        return cls(
            str(data["as_of"]),
            str(data.get("source", "")),
            data.get("models", {}),
            data.get("backends", {}),
        )

    def rates(self, backend: str, model: str | None) -> Mapping[str, float] | None:
        return self.backends.get(backend) or self.models.get(model or "")

    def cost(self, backend: str, model: str | None, tokens: Tokens) -> float | None:
        """US dollars, or None when the table has no price for that model."""
        rates = self.rates(backend, model)
        if rates is None:
            return None
        uncached = Tokens(
            text_in=tokens.text_in - tokens.cached_text_in,
            audio_in=tokens.audio_in - tokens.cached_audio_in,
        )
        counts = {
            "audio_in": uncached.audio_in,
            "cached_audio_in": tokens.cached_audio_in,
            "audio_out": tokens.audio_out,
            "text_in": uncached.text_in,
            "cached_text_in": tokens.cached_text_in,
            "text_out": tokens.text_out,
        }
        return sum(counts[r] * float(rates.get(r, 0.0)) for r in _RATES) / 1_000_000


@cache
def prices() -> PriceTable:
    """The table that ships with Voice Lab."""
    text = resources.files("voicelab").joinpath("data/prices.json").read_text()
    return PriceTable.from_dict(json.loads(text))
