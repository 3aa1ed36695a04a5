"""Whether a visitor may start a call, and how long and how costly it may be: pure logic over
the policy and the ledger's figures. Daily limits become limits on the one call being
started (what is left of today), so the running call needs to watch only its own clock and
its own spend."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from voicelab.call.limits import CallLimits
from voicelab.hosting.policy import HostedPolicy

DAY_S = 86_400.0


@dataclass(frozen=True)
class Usage:
    """What the ledger says right now."""

    seconds_today: float = 0.0  # this visitor's call time since 00:00 UTC
    usd_today: float = 0.0  # this visitor's estimated spend since 00:00 UTC
    visitor_open: int = 0  # this visitor's calls open now, on any replica
    all_open: int = 0  # every call open now, on any replica
    #: When open calls end at the latest (their time limits), soonest first; calls with no
    #: time limit are not in it.
    ends_by: tuple[float, ...] = ()


def until_midnight(now: float) -> str:
    """How long until the daily limits renew at 00:00 UTC, in words."""
    left = DAY_S - now % DAY_S
    hours, minutes = int(left // 3600), math.ceil(left % 3600 / 60)
    if minutes == 60:
        hours, minutes = hours + 1, 0
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def dollars(usd: float) -> str:
    """$0.50, or $0.0004 for amounts a demo host may well set per call."""
    if usd >= 0.1 or usd <= 0:
        return f"${max(usd, 0.0):.2f}"
    return f"${max(usd, 0.000001):.6f}".rstrip("0")


def day_start(now: float) -> float:
    return now - now % DAY_S


def busy(policy: HostedPolicy, usage: Usage, now: float) -> str:
    """Turned away: how many calls, and when a place is sure to be free, if the ledger
    knows (the soonest time limit among the calls that must end first)."""
    limit = policy.calls_at_once or 0
    calls = "1 call is" if limit == 1 else f"{limit} calls are"
    said = f"The demo is busy: {calls} going on, its limit."
    must_end = usage.all_open - limit + 1
    if must_end < 1 or len(usage.ends_by) < must_end:
        return f"{said} Try again in a few minutes."
    free_at = max(usage.ends_by[must_end - 1], now)
    wait = math.ceil((free_at - now) / 60.0)
    clock = time.strftime("%H:%M", time.gmtime(free_at + 59.0))  # a minute rounded up
    within = "a minute" if wait <= 1 else f"{wait} minutes"
    return f"{said} A place is free within {within} (by {clock} UTC); try again then."


def admit(policy: HostedPolicy, usage: Usage, now: float) -> CallLimits | str:
    """This call's limits, or the one sentence that says why it may not start."""
    renews = "your allowance renews at 00:00 UTC"
    if policy.calls_at_once is not None and usage.all_open >= policy.calls_at_once:
        return busy(policy, usage, now)
    if policy.calls_per_visitor is not None and usage.visitor_open >= policy.calls_per_visitor:
        return (
            f"You already have {usage.visitor_open} call(s) going on in another tab or "
            "window, this demo's limit; end one there first."
        )
    limits = CallLimits()
    if (minutes := policy.minutes_per_day) is not None:
        seconds = minutes * 60.0 - usage.seconds_today
        if seconds < 1.0:
            return (
                f"You have used today's {minutes:g} call minutes on this demo; {renews}, "
                f"in {until_midnight(now)}."
            )
        limits = replace(
            limits,
            seconds=seconds,
            seconds_problem=(
                f"You reached today's {minutes:g} call minutes on this demo, so the call was "
                f"ended; {renews}, in {until_midnight(now + seconds)}."
            ),
        )
    if (per_call := policy.spend_per_call_usd) is not None:
        limits = replace(
            limits,
            usd=per_call,
            usd_problem=(
                f"This call reached the demo's limit of {dollars(per_call)} per call, so it "
                "was ended; press Start for a new one."
            ),
        )
    if (per_day := policy.spend_per_day_usd) is not None:
        left = per_day - usage.usd_today
        if left <= 0.0:
            return (
                f"You have used today's {dollars(per_day)} of this demo; {renews}, in "
                f"{until_midnight(now)}."
            )
        if limits.usd is None or left < limits.usd:
            limits = replace(
                limits,
                usd=left,
                usd_problem=(
                    f"You reached today's {dollars(per_day)} on this demo, so the call was "
                    f"ended; {renews}."
                ),
            )
    return limits
