"""Every id this project makes, in one place.

The local server's ids are shaped like OpenAI's (``rtc_…``, ``item_…``, ``event_…``) so
clients that log or route on prefixes behave the same against it. The client's own ids
start with ``voicelab_``, so an ``error`` naming one is known to answer an event of ours.
"""

from __future__ import annotations

import itertools
import secrets

CLIENT_PREFIX = "voicelab_"
#: Ids of client events sent on a best-effort basis (the cut of an answer): the server's
#: error about one is expected (the answer had already ended there), not news for the user.
BEST_EFFORT_PREFIX = f"{CLIENT_PREFIX}cut_"
_numbers = itertools.count(1)


def new_id(prefix: str) -> str:
    """A server-side id: ``rtc_…``, ``item_…``, ``resp_…``, ``event_…``, ``sess_…``."""
    return f"{prefix}_{secrets.token_hex(10)}"


def client_event_id(best_effort: bool = False) -> str:
    """A client event's ``event_id``, unique in this process."""
    return f"{BEST_EFFORT_PREFIX if best_effort else CLIENT_PREFIX}{next(_numbers)}"


def carried_item_id(call_number: int, index: int) -> str:
    """The id under which a reconnect re-sends an earlier turn."""
    return f"{CLIENT_PREFIX}carried_{call_number}_{index}"
