"""The hosting ledger on a real database (a SQLite file here), the thread that keeps it, and
a host's limits ending real bridged calls on loopback with their sentences."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.browser_leg import BrowserLeg, until
from tests.postgres import fresh_database
from tests.test_bridge import session, target
from tests.test_call_metrics import _RATES
from voicelab.call import CONNECTED, ERROR, Bridge
from voicelab.call.limits import CallLimits, Progress
from voicelab.history.store import HistoryStore
from voicelab.hosting.allowance import DAY_S, Usage, admit
from voicelab.hosting.keeper import LedgerKeeper
from voicelab.hosting.ledger import STALE_S, Ledger
from voicelab.hosting.policy import HostedPolicy
from voicelab.pricing import PriceTable, prices

NOON = 20_000 * DAY_S + 12 * 3600.0


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path):
    """The ledger beside a history store, on a SQLite file and on a real PostgreSQL."""
    url = f"sqlite:///{tmp_path / 'history.db'}"
    if request.param == "postgresql":
        url = fresh_database(request.getfixturevalue("postgres"))
    store = HistoryStore(url, tmp_path / "audio")
    yield Ledger(store.engine)
    store.close()


def test_the_ledger_counts_open_calls_and_todays_use_per_visitor(ledger: Ledger):
    ledger.open("yesterday", "10.0.0.1", NOON - DAY_S)
    ledger.update("yesterday", 600.0, 1.0, NOON - DAY_S + 600, ended=True)
    ledger.open("a1", "10.0.0.1", NOON)
    ledger.update("a1", 120.0, 0.25, NOON + 120, ended=True)
    ledger.open("a2", "10.0.0.1", NOON + 200)
    ledger.update("a2", 30.0, 0.05, NOON + 230)
    ledger.open("b1", "10.0.0.2", NOON + 210)

    now = NOON + 235
    assert ledger.usage("10.0.0.1", now) == Usage(150.0, pytest.approx(0.30), 1, 2)
    assert ledger.usage("10.0.0.2", now) == Usage(0.0, 0.0, 1, 2)
    assert ledger.usage("10.0.0.3", now) == Usage(0.0, 0.0, 0, 2)

    # a row ended stays ended: a late write from its keeper does not reopen or change it
    ledger.update("a1", 999.0, 9.0, now)
    assert ledger.usage("10.0.0.1", now).seconds_today == 150.0

    # rows whose replica stopped refreshing them are no longer open; what they used counts
    later = NOON + 230 + STALE_S + 1
    assert ledger.usage("10.0.0.1", later) == Usage(150.0, pytest.approx(0.30), 0, 0)


def test_the_ledger_says_when_open_calls_end_at_the_latest(ledger: Ledger):
    ledger.open("unlimited", "10.0.0.1", NOON)
    ledger.open("late", "10.0.0.2", NOON, ends_by=NOON + 900.0)
    ledger.open("soon", "10.0.0.3", NOON + 10, ends_by=NOON + 300.0)
    ledger.open("ended", "10.0.0.4", NOON, ends_by=NOON + 100.0)
    ledger.update("ended", 20.0, 0.0, NOON + 20, ended=True)
    usage = ledger.usage("10.0.0.9", NOON + 30)
    assert usage.all_open == 3 and usage.ends_by == (NOON + 300.0, NOON + 900.0)


def slow_admit(policy: HostedPolicy, usage: Usage, now: float) -> CallLimits | str:
    """A replica slow between reading the figures and writing its row: the others read
    meanwhile."""
    verdict = admit(policy, usage, now)
    time.sleep(0.05)
    return verdict


def race(replicas: list[Ledger], policy: HostedPolicy, now: float, tag: str) -> list:
    """Every replica admits a visitor of its own at the same instant."""
    together = threading.Barrier(len(replicas))

    def start(replica: Ledger, n: int) -> CallLimits | str:
        together.wait()
        return replica.admit(policy, f"10.0.0.{n}", now, f"{tag}-{n}", slow_admit)

    with concurrent.futures.ThreadPoolExecutor(len(replicas)) as pool:
        return list(pool.map(start, replicas, range(len(replicas))))


def test_starts_at_the_same_instant_on_several_replicas_take_the_last_place_once(ledger: Ledger):
    """Four replicas (each its own engine) against ``calls_at_once = 2`` with one place
    taken: one of them gets the last place, every round."""
    url = ledger.engine.url.render_as_string(hide_password=False)
    replicas = [Ledger(create_engine(url)) for _ in range(4)]
    try:
        for round_ in range(5):
            now = NOON + round_
            ledger.open(f"taken-{round_}", "10.0.0.9", now)
            verdicts = race(replicas, HostedPolicy(calls_at_once=2), now, f"r{round_}")
            assert len([v for v in verdicts if isinstance(v, CallLimits)]) == 1, verdicts
            assert ledger.usage("10.0.0.9", now).all_open == 2
            for entry in ledger.entries():  # this round's calls end
                ledger.update(entry.call_key, 0.0, 0.0, now, ended=True)
    finally:
        for replica in replicas:
            replica.engine.dispose()


def test_a_ledger_made_before_ends_by_gets_the_column_and_keeps_its_rows(tmp_path: Path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE hosted_calls (call_key VARCHAR(255) PRIMARY KEY, visitor VARCHAR(255) "
            "NOT NULL, started_at FLOAT NOT NULL, seen_at FLOAT NOT NULL, ended_at FLOAT, "
            "seconds FLOAT NOT NULL, usd FLOAT NOT NULL)"
        ))  # fmt: skip
        conn.execute(text("INSERT INTO hosted_calls VALUES ('old', 'v', :t, :t, NULL, 5, 0)"),
                     {"t": NOON})  # fmt: skip
    upgraded = Ledger(engine)
    upgraded.open("new", "v", NOON + 1, ends_by=NOON + 60.0)
    assert Ledger(engine).usage("v", NOON + 2) == Usage(5.0, 0.0, 2, 2, (NOON + 60.0,))
    engine.dispose()


def test_the_keeper_sums_each_upstream_call_and_ends_the_row_with_the_call(ledger: Ledger):
    clock = [NOON]
    readings = iter(
        [
            Progress(True, "call-1", 0.01),
            Progress(True, "call-1", 0.02),
            Progress(True, None, None),  # lost, calling again
            Progress(True, "call-2", 0.005),  # the recovery: a new upstream call
            Progress(False),
        ]
    )
    keeper = LedgerKeeper(ledger, every_s=3600.0, clock=lambda: clock[0])
    try:
        ledger.open("k", "10.0.0.1", NOON)
        keeper.watch("k", lambda: next(readings), NOON)
        for step in range(4):
            clock[0] = NOON + 10 * (step + 1)
            keeper.tick()
        (entry,) = ledger.entries()
        assert entry.ended_at is None and entry.seconds == 40.0
        assert entry.usd == pytest.approx(0.025)  # call-1's last figure plus call-2's
        assert ledger.usage("10.0.0.1", clock[0]).visitor_open == 1

        clock[0] = NOON + 50
        keeper.tick()
        (entry,) = ledger.entries()
        assert entry.ended_at == NOON + 50 and entry.seconds == 50.0
        assert keeper.watching() == []
        assert ledger.usage("10.0.0.1", clock[0]).visitor_open == 0
    finally:
        keeper.close()


def test_a_call_that_ends_between_two_rounds_is_ended_by_the_next_start(ledger: Ledger):
    keeper = LedgerKeeper(ledger, every_s=3600.0, clock=lambda: NOON + 5)
    try:
        ledger.open("first", "10.0.0.1", NOON)
        keeper.watch("first", lambda: Progress(True, "c", 0.5), NOON)
        keeper.end("first")  # the page saw Start again before the keeper saw the end
        (entry,) = ledger.entries()
        assert entry.ended_at == NOON + 5 and entry.seconds == 5.0
        assert entry.usd == 0.5  # the call's last figure, read as it ended
        assert keeper.watching() == []
    finally:
        keeper.close()


# ---- limits on real calls ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def limited_call(base_url: str, bridge: Bridge, limits: CallLimits) -> AsyncIterator:
    leg = BrowserLeg(bridge)
    await leg.connect()
    bridge.start(target(base_url), session(), limits=limits)
    try:
        yield leg
    finally:
        await asyncio.to_thread(bridge.stop, 10.0)
        await leg.close()


async def test_a_time_limit_ends_the_call_with_its_sentence_and_is_not_retried(server):
    bridge = Bridge()
    started = time.monotonic()
    limits = CallLimits(seconds=2.0, seconds_problem="Out of minutes for today.")
    async with limited_call(server.base_url, bridge, limits):
        await until(bridge, lambda s: s.status == CONNECTED, what="connected")
        assert bridge.progress().going and bridge.progress().call_id is not None
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=10, what="the limit")
        assert time.monotonic() - started >= 2.0
        assert snap.problem == "Out of minutes for today." and snap.recovery is None
        await asyncio.sleep(0.5)
        assert not bridge.progress().going and bridge.snapshot().status == ERROR


async def test_a_spend_limit_ends_the_call_after_the_answer_that_crossed_it(server):
    table = prices()
    dear = {r: 100.0 for r in _RATES}  # the local backend priced, so it costs something
    bridge = Bridge(prices=PriceTable(table.as_of, "test", table.models, {"local": dear}))
    limits = CallLimits(usd=0.001, usd_problem="Today's spend is used up.")
    async with limited_call(server.base_url, bridge, limits):
        await until(bridge, lambda s: s.status == CONNECTED, what="connected")
        assert bridge.progress().cost_usd == 0.0
        await asyncio.to_thread(bridge.send_text, "hello there")
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=30, what="the limit")
        assert snap.problem == "Today's spend is used up."
        assert snap.usage.cost_usd is not None and snap.usage.cost_usd > 0.001
        assert not bridge.progress().going
