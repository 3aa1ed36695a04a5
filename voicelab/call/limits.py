"""What a host allows one visitor's call (hosted mode), and what the host's ledger reads of
it. Both are plain values: the page decides the limits at Start, the call only obeys them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallLimits:
    """None where there is no limit; each limit ends the call with its own sentence."""

    seconds: float | None = None  # from Start, reconnections and renewals included
    seconds_problem: str = ""
    usd: float | None = None  # estimated spend of one upstream call
    usd_problem: str = ""

    def deadline(self, now: float) -> tuple[float, str] | None:
        """When (on ``now``'s clock) a call started at ``now`` must end, and why."""
        return None if self.seconds is None else (now + self.seconds, self.seconds_problem)


@dataclass(frozen=True)
class Progress:
    """A call as the ledger sees it: cheap to read, no transcript."""

    going: bool  # up, or about to call again after a loss
    call_id: str | None = None  # the upstream call now
    cost_usd: float | None = None  # that upstream call's estimated spend so far
