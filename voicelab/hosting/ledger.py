"""Every hosted call's time and estimated spend, in a table beside the history (the same
database), so limits survive a restart and hold across replicas sharing it.

A row is one visitor's call from Start to its end, reconnections and renewals included.
Its replica refreshes ``seen_at`` while it runs; a row whose replica stopped refreshing it
(a crash, a kill) no longer counts as open after ``STALE_S``, and what it had used still
counts. A row also says by when its call ends at the latest (its time limit), so a visitor
turned away as the demo is busy can be told when to come back. Portable SQL only, as in the
history store, so PostgreSQL works unchanged.

Admission is one transaction that first writes the one row of ``hosted_admissions``: every
replica's admission waits there for the one before to commit, so two Starts at the same
instant on two replicas cannot both take the last place (a row lock in PostgreSQL, the
database's write lock in SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    distinct,
    func,
    insert,
    select,
    update,
)

from voicelab.call.limits import CallLimits
from voicelab.history.tables import add_missing_column
from voicelab.hosting.allowance import Usage, admit, day_start
from voicelab.hosting.policy import HostedPolicy

#: A row not refreshed for this long is a call whose replica is gone.
STALE_S = 30.0
#: How many of the open calls' ends ``usage`` reads, soonest first.
MAX_ENDS = 64

metadata = MetaData()

ledger = Table(
    "hosted_calls",
    metadata,
    Column("call_key", String(255), primary_key=True),
    Column("visitor", String(255), nullable=False, index=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("seen_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("usd", Float, nullable=False, default=0.0),
    Column("ends_by", Float),  # the latest its time limit lets it end; None: no limit
)

#: One row, written first by every admission (the module's docstring says why).
admissions = Table(
    "hosted_admissions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("count", Integer, nullable=False),
)


@dataclass(frozen=True)
class Entry:
    call_key: str
    visitor: str
    started_at: float
    ended_at: float | None
    seconds: float
    usd: float


class Ledger:
    """Safe from several threads: each method takes its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        add_missing_column(engine, ledger.c.ends_by)
        try:
            with engine.begin() as conn:
                if conn.execute(select(admissions.c.id)).first() is None:
                    conn.execute(insert(admissions).values(id=1, count=0))
        except Exception:  # another replica made it at the same moment
            with engine.connect() as conn:
                if conn.execute(select(admissions.c.id)).first() is None:
                    raise

    def admit(
        self,
        policy: HostedPolicy,
        visitor: str,
        now: float,
        call_key: str,
        decide: Callable[[HostedPolicy, Usage, float], CallLimits | str] = admit,
    ) -> CallLimits | str:
        """``decide`` on ``visitor``'s usage now and, when the call may start, open its row
        (``call_key``), in one transaction that admissions on every replica take in turn."""
        with self.engine.begin() as conn:
            conn.execute(update(admissions).values(count=admissions.c.count + 1))
            verdict = decide(policy, self._usage(conn, visitor, now), now)
            if not isinstance(verdict, str):
                ends_by = None if verdict.seconds is None else now + verdict.seconds
                self._open(conn, call_key, visitor, now, ends_by)
        return verdict

    def open(self, call_key: str, visitor: str, now: float, ends_by: float | None = None) -> None:
        with self.engine.begin() as conn:
            self._open(conn, call_key, visitor, now, ends_by)

    @staticmethod
    def _open(
        conn: Connection, call_key: str, visitor: str, now: float, ends_by: float | None
    ) -> None:
        conn.execute(
            insert(ledger).values(
                call_key=call_key,
                visitor=visitor,
                started_at=now,
                seen_at=now,
                seconds=0.0,
                usd=0.0,
                ends_by=ends_by,
            )
        )

    def update(
        self, call_key: str, seconds: float, usd: float, now: float, ended: bool = False
    ) -> None:
        values = {"seconds": seconds, "usd": usd, "seen_at": now}
        if ended:
            values["ended_at"] = now
        with self.engine.begin() as conn:
            conn.execute(
                update(ledger)
                .where(ledger.c.call_key == call_key, ledger.c.ended_at.is_(None))
                .values(**values)
            )

    def usage(self, visitor: str, now: float) -> Usage:
        """The figures ``allowance.admit`` needs for ``visitor``, now."""
        with self.engine.connect() as conn:
            return self._usage(conn, visitor, now)

    @staticmethod
    def _usage(conn: Connection, visitor: str, now: float) -> Usage:
        since, fresh = day_start(now), now - STALE_S
        is_open = (ledger.c.ended_at.is_(None), ledger.c.seen_at >= fresh)
        seconds, usd = conn.execute(
            select(func.coalesce(func.sum(ledger.c.seconds), 0.0),
                   func.coalesce(func.sum(ledger.c.usd), 0.0))
            .where(ledger.c.visitor == visitor, ledger.c.started_at >= since)
        ).one()  # fmt: skip
        mine = conn.execute(
            select(func.count(distinct(ledger.c.call_key))).where(
                ledger.c.visitor == visitor, *is_open
            )
        ).scalar_one()
        everyone = conn.execute(select(func.count()).where(*is_open)).scalar_one()
        ends = conn.execute(
            select(ledger.c.ends_by)
            .where(*is_open, ledger.c.ends_by.is_not(None))
            .order_by(ledger.c.ends_by)
            .limit(MAX_ENDS)
        ).scalars()
        ends_by = tuple(float(end) for end in ends)
        return Usage(float(seconds), float(usd), int(mine), int(everyone), ends_by)

    def entries(self, visitor: str | None = None) -> list[Entry]:
        query = select(ledger).order_by(ledger.c.started_at)
        if visitor is not None:
            query = query.where(ledger.c.visitor == visitor)
        with self.engine.connect() as conn:
            return [
                Entry(r.call_key, r.visitor, r.started_at, r.ended_at, r.seconds, r.usd)
                for r in conn.execute(query)
            ]
