"""When a lost upstream is called again, and when the bridge gives up: the rules (pure, so
they can be read and tested in one place) and one bridge's attempts under them, counted and
timed. The bridge does the calling."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicelab.call import problems
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


class Recoveries:
    """One bridge's attempts: counted, timed, cancelled. Called under the bridge's lock;
    ``cancel`` hands back the timer for the caller to join outside it."""

    def __init__(self, policy: RecoveryPolicy) -> None:
        self.policy = policy
        self.current: Recovery | None = None  # the attempt under way
        self._timer: threading.Timer | None = None
        self._recovered_at = 0.0  # when the last attempt's call came up

    def connected(self) -> None:
        if self.current is not None:
            self._recovered_at = time.monotonic()

    def after_end(self, lost: bool, error: SetupError | None) -> float | None:
        """A call ended (``lost``: it was up and its upstream went; ``error``: its setup
        failed): the wait before the next attempt, counted, or None to let it end."""
        if lost and time.monotonic() - self._recovered_at > self.policy.stable_s:
            self.current = None  # the last recovery held: this loss is a new one
        retrying = self.current is not None and not permanent(error)
        if not (lost or retrying):
            return None
        attempt = 1 if self.current is None else self.current.attempt + 1
        if attempt > self.policy.attempts:
            return None
        self.current = Recovery(attempt, self.policy.attempts)
        asked = asked_wait_s(error)
        wait_s = self.policy.delay_s(attempt)
        return max(wait_s, asked) if asked is not None else wait_s

    def give_up(self, error: SetupError | None) -> str | None:
        """The call ends for good: the sentence that replaces its own, if attempts were made
        and failed for reasons that could have passed (a permanent refusal says itself)."""
        recovery, self.current = self.current, None
        if recovery is None or permanent(error):
            return None
        return problems.gave_up(recovery.of)

    def schedule(self, wait_s: float, retry: Callable[[Recovery], None], name: str) -> None:
        """``retry(attempt)`` after ``wait_s``, on a timer thread; it checks the attempt is
        still ``current`` (a Stop or a new Start in the meantime cancels it)."""
        assert self.current is not None
        timer = threading.Timer(wait_s, retry, args=(self.current,))
        timer.daemon = True
        timer.name = name
        self._timer = timer
        timer.start()

    def cancel(self) -> threading.Timer | None:
        timer, self._timer, self.current = self._timer, None, None
        if timer is not None:
            timer.cancel()
        return timer
