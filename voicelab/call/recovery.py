"""When a lost upstream is called again, and when the bridge gives up: pure policy, so the
rules can be read (and tested) in one place. The bridge does the calling."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from voicelab.upstream.transport import SetupError

#: Statuses a new attempt cannot change: a refused key, a forbidden model, a session the
#: server will not take, an address that is not a Realtime endpoint.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404})
#: OpenAI's code for a spent quota, which a 429 also carries: waiting does not help.
PERMANENT_CODES = frozenset({"insufficient_quota", "invalid_api_key"})


@dataclass(frozen=True)
class Recovery:
    """Attempt ``attempt`` of ``of`` to carry a call whose upstream was lost."""

    attempt: int
    of: int

    @property
    def words(self) -> str:
        return f"Reconnecting ({self.attempt} of {self.of})…"


@dataclass(frozen=True)
class RecoveryPolicy:
    attempts: int = 5
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25  # ± this share of each delay, so many visitors do not retry in step
    #: A recovered call that stays up this long has recovered: a later loss counts from 1.
    #: One lost sooner is the same trouble, and its attempts go on counting.
    stable_s: float = 20.0

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """How long to wait before attempt ``attempt`` (1-based): doubling, capped, jittered."""
        base = min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


def permanent(error: SetupError | None) -> bool:
    """A setup failure that no new attempt will fix (never retried)."""
    if error is None:
        return False
    return error.status in PERMANENT_STATUSES or error.code in PERMANENT_CODES


def asked_wait_s(error: SetupError | None) -> float | None:
    """A rate limit's own wait ("Please try again in 20s"), when it names one."""
    if error is None or error.status != 429:
        return None
    found = re.search(r"try again in (\d+(?:\.\d+)?)\s*(ms|s)\b", str(error))
    if found is None:
        return None
    value = float(found.group(1))
    return value / 1000 if found.group(2) == "ms" else value
