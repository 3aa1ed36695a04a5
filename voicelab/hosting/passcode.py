"""The passcode gate's logic: a constant-time comparison, and failures that make the next
try wait longer, counted per address so a reload does not reset them. One gate per process;
the counts are bounded (the least recently seen addresses are forgotten first)."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from dataclasses import dataclass

#: Failures allowed before any wait; each one after doubles it, up to ``MAX_WAIT_S``.
FREE_TRIES = 3
FIRST_WAIT_S = 2.0
MAX_WAIT_S = 300.0
#: Addresses remembered at once.
MAX_ADDRESSES = 10_000


@dataclass(frozen=True)
class Verdict:
    ok: bool
    #: Seconds before this address may try again (0: now).
    wait_s: float = 0.0

    @property
    def message(self) -> str | None:
        """One sentence for the gate to show, or None when in."""
        if self.ok:
            return None
        if self.wait_s > 0:
            return f"Too many wrong passcodes; try again in {self.wait_s:.0f} s."
        return "That passcode is not right."


def _digest(text: str) -> bytes:
    # Equal lengths for compare_digest, whatever was typed: the time taken says nothing.
    return hashlib.sha256(text.encode()).digest()


class PasscodeGate:
    def __init__(self, passcode: str) -> None:
        self._expected = _digest(passcode)
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # count, until

    def wait_s(self, address: str, now: float) -> float:
        with self._lock:
            _, until = self._failures.get(address, (0, 0.0))
        return max(0.0, until - now)

    def check(self, typed: str, address: str, now: float) -> Verdict:
        """Whether ``typed`` is the passcode; while ``address`` must wait, nothing is
        compared at all."""
        wait = self.wait_s(address, now)
        if wait > 0:
            return Verdict(False, wait)
        if hmac.compare_digest(_digest(typed), self._expected):
            with self._lock:
                self._failures.pop(address, None)
            return Verdict(True)
        with self._lock:
            count = self._failures.pop(address, (0, 0.0))[0] + 1
            extra = count - FREE_TRIES - 1
            wait = 0.0 if extra < 0 else min(MAX_WAIT_S, FIRST_WAIT_S * 2**extra)
            self._failures[address] = (count, now + wait)
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)
        return Verdict(False, wait)
