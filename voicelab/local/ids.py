"""Identifiers shaped like OpenAI's (``rtc_…``, ``item_…``, ``event_…``) so clients that log
or route on prefixes behave the same against the local server."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"
