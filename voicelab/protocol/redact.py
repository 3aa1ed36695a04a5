"""Events as they may be shown, stored and exported: no secret in them.

The API key travels only in the HTTP header of the call's setup, never in an event; but a
server may send a client secret, and a user may paste a key into the chat. So before an
event is logged, every field named like a secret is blanked, and every string is cleaned
of the call's own key and of anything shaped like an OpenAI key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
_SECRET_FIELDS = {"authorization", "api_key", "apikey", "client_secret", "secret", "password"}
#: OpenAI's secret keys (sk-…, sk-proj-…) and ephemeral client secrets (ek_…).
_KEY_SHAPED = re.compile(r"\b(?:sk-[A-Za-z0-9_\-]{16,}|ek_[A-Za-z0-9_\-]{16,})")


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Short values would blank ordinary words; a real key is long.
        self._secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def __call__(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return self._value(event, depth=0)  # type: ignore[return-value]

    def _value(self, value: Any, depth: int) -> Any:
        if depth > 64:  # deeper than any real event: dropped, not walked
            return REDACTED
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Mapping):
            return {
                str(k): REDACTED if str(k).lower() in _SECRET_FIELDS else self._value(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._value(v, depth + 1) for v in value]
        return value

    def _text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _KEY_SHAPED.sub(REDACTED, text)
