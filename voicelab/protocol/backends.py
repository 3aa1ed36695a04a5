"""Which backend accepts which session field: the one table that knows the difference
between OpenAI and the local server. Everything not listed is accepted by both."""

from __future__ import annotations

from typing import Literal

Backend = Literal["local", "openai"]

#: Fields a backend refuses, with the one-line reason the sidebar shows.
REFUSED_FIELDS: dict[Backend, dict[str, str]] = {
    "openai": {
        "temperature": "OpenAI's GA Realtime models have no temperature setting "
        "(sending one is refused with unknown_parameter).",
    },
    "local": {},
}


def accepts(backend: Backend, field: str) -> bool:
    return field not in REFUSED_FIELDS[backend]


def refusal_reason(backend: Backend, field: str) -> str | None:
    return REFUSED_FIELDS[backend].get(field)
