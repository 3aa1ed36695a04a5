"""Where calls are kept: the tables of ``tables`` through SQLAlchemy, audio as files beside
them. Upserts are written as "update, insert if nothing matched" rather than a dialect's ON
CONFLICT, so a PostgreSQL URL works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    create_engine,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from voicelab.history.audio_file import wav_from_pcm
from voicelab.history.records import (
    CallEnded,
    CallStarted,
    CallSummary,
    EventLogged,
    FiguresChanged,
    Op,
    SettingsChanged,
    StoredCall,
    StoredEvent,
    TurnChanged,
)
from voicelab.history.tables import (
    ID_LENGTH,
    SHORT_LENGTH,
    add_missing_column,
    as_dict,
    calls,
    chunks,
    clip,
    dumps,
    events,
    metadata,
    number,
    safe_name,
    sqlite_pragmas,
    turns,
)


def _replace_key(op: Op) -> tuple[str, ...] | None:
    """Ops where only the last of a batch matters (each replaces what came before)."""
    if isinstance(op, TurnChanged):
        return ("turn", op.call_id, op.item_id)
    if isinstance(op, FiguresChanged):
        return ("figures", op.call_id)
    if isinstance(op, SettingsChanged):
        return ("settings", op.call_id)
    return None


def _dedupe(ops: Sequence[Op]) -> list[Op]:
    """A turn streaming text is re-sent many times a second: write it once per batch."""
    last: dict[tuple[str, ...], int] = {}
    for i, op in enumerate(ops):
        key = _replace_key(op)
        if key is not None:
            last[key] = i
    kept: list[Op] = []
    for i, op in enumerate(ops):
        key = _replace_key(op)
        if key is None or last[key] == i:
            kept.append(op)
    return kept


class HistoryStore:
    """Safe to use from several threads: each method takes its own connection."""

    def __init__(self, url: str, audio_dir: Path, keep_calls: int = 500) -> None:
        self.url = url
        self.audio_dir = Path(audio_dir)
        self.keep_calls = keep_calls
        parsed = make_url(url)
        options: dict[str, Any] = {}
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite:
            database = parsed.database or ""
            options["connect_args"] = {"check_same_thread": False}
            if database in ("", ":memory:"):
                # One connection for all threads, or each would see its own empty database.
                options["poolclass"] = StaticPool
            elif not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._engine = create_engine(url, **options)
        if sqlite:
            event.listen(self._engine, "connect", sqlite_pragmas)
        metadata.create_all(self._engine)
        add_missing_column(self._engine, calls.c.owner)
        self.audio_dir.mkdir(parents=True, exist_ok=True)

    @property
    def engine(self) -> Engine:
        """For tables kept beside the history in the same database (the hosting ledger)."""
        return self._engine

    # writing ---------------------------------------------------------------------------

    def apply(self, ops: Sequence[Op]) -> None:
        """One transaction per batch, ops in order. Ops about a call that was never started
        (or was deleted meanwhile) are dropped, so a late write cannot bring a call back."""
        batch = _dedupe(ops)
        if not batch:
            return
        with self._engine.begin() as conn:
            known = self._existing(conn, {op.call_id for op in batch})
            logged: list[EventLogged] = []
            for op in batch:
                if isinstance(op, CallStarted):
                    self._start(conn, op, op.call_id in known)
                    known.add(op.call_id)
                elif op.call_id not in known:
                    continue
                elif isinstance(op, EventLogged):
                    logged.append(op)
                elif isinstance(op, TurnChanged):
                    self._turn(conn, op)
                elif isinstance(op, FiguresChanged):
                    self._set_call(conn, op.call_id, figures=dumps(op.figures))
                elif isinstance(op, SettingsChanged):
                    self._set_call(conn, op.call_id, settings=dumps(op.settings))
                elif isinstance(op, CallEnded):
                    self._set_call(
                        conn,
                        op.call_id,
                        ended_at=op.ended_at,
                        status=clip(op.status, SHORT_LENGTH),
                        problem=op.problem,
                    )
            # Events touch no other row, so writing them together after the rest is the
            # same as writing them in place.
            self._insert_events(conn, logged)

    @staticmethod
    def _existing(conn: Connection, call_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(sorted(call_ids)):
            query = select(calls.c.call_id).where(calls.c.call_id.in_(chunk))
            found.update(conn.execute(query).scalars())
        return found

    @staticmethod
    def _start(conn: Connection, op: CallStarted, exists: bool) -> None:
        values = {
            "started_at": op.started_at,
            "backend": clip(op.backend, ID_LENGTH),
            "model": clip(op.model, ID_LENGTH),
            "settings": dumps(op.settings),
            "owner": None if op.owner is None else clip(op.owner, ID_LENGTH),
        }
        if exists:
            conn.execute(update(calls).where(calls.c.call_id == op.call_id).values(**values))
        else:
            conn.execute(calls.insert().values(call_id=op.call_id, figures="{}", **values))

    @staticmethod
    def _set_call(conn: Connection, call_id: str, **values: Any) -> None:
        conn.execute(update(calls).where(calls.c.call_id == call_id).values(**values))

    @staticmethod
    def _turn(conn: Connection, op: TurnChanged) -> None:
        values = {"position": op.position, "data": dumps(op.turn)}
        found = conn.execute(
            update(turns)
            .where(turns.c.call_id == op.call_id, turns.c.item_id == op.item_id)
            .values(**values)
        )
        if found.rowcount == 0:
            conn.execute(turns.insert().values(call_id=op.call_id, item_id=op.item_id, **values))

    @staticmethod
    def _insert_events(conn: Connection, logged: Sequence[EventLogged]) -> None:
        by_call: dict[str, dict[int, EventLogged]] = {}
        for op in logged:
            by_call.setdefault(op.call_id, {}).setdefault(op.seq, op)  # first one wins
        for call_id, by_seq in by_call.items():
            for chunk in chunks(sorted(by_seq)):
                query = select(events.c.seq).where(
                    events.c.call_id == call_id, events.c.seq.in_(chunk)
                )
                for seq in conn.execute(query).scalars():
                    by_seq.pop(seq, None)
            rows = [
                {
                    "call_id": call_id,
                    "seq": op.seq,
                    "at": op.at,
                    "direction": clip(op.direction, SHORT_LENGTH),
                    "type": clip(str(op.event.get("type", "")), ID_LENGTH),
                    "data": dumps(op.event),
                }
                for op in by_seq.values()
            ]
            if rows:
                conn.execute(events.insert(), rows)

    # reading ---------------------------------------------------------------------------

    # ``owner``: only that visitor's calls (a hosted demo); None: every call.

    def list_calls(self, limit: int = 200, owner: str | None = None) -> list[CallSummary]:
        query = (
            select(calls)
            .order_by(calls.c.started_at.desc(), calls.c.call_id.desc())
            .limit(max(0, limit))
        )
        if owner is not None:
            query = query.where(calls.c.owner == owner)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._summary(row) for row in rows]

    def load(self, call_id: str, owner: str | None = None) -> StoredCall | None:
        query = select(calls).where(calls.c.call_id == call_id)
        if owner is not None:
            query = query.where(calls.c.owner == owner)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            data = conn.execute(
                select(turns.c.data)
                .where(turns.c.call_id == call_id)
                .order_by(turns.c.position, turns.c.item_id)
            ).scalars()
            stored_turns = [turn for turn in map(as_dict, data) if turn]
            stored_events = self._events(conn, call_id, -1, None)
        return StoredCall(
            summary=self._summary(row),
            settings=as_dict(row.settings),
            figures=as_dict(row.figures),
            turns=stored_turns,
            events=stored_events,
            problem=row.problem,
        )

    def events(
        self, call_id: str, after_seq: int = -1, limit: int | None = None
    ) -> list[StoredEvent]:
        with self._engine.connect() as conn:
            return self._events(conn, call_id, after_seq, limit)

    @staticmethod
    def _events(
        conn: Connection, call_id: str, after_seq: int, limit: int | None
    ) -> list[StoredEvent]:
        query = (
            select(events.c.seq, events.c.at, events.c.direction, events.c.data)
            .where(events.c.call_id == call_id, events.c.seq > after_seq)
            .order_by(events.c.seq)
        )
        if limit is not None:
            query = query.limit(max(0, limit))
        return [
            StoredEvent(seq=row.seq, at=row.at, direction=row.direction, event=as_dict(row.data))
            for row in conn.execute(query)
        ]

    def _summary(self, row: Any) -> CallSummary:
        figures = as_dict(row.figures)
        duration = number(figures.get("duration_s"))
        if duration is None and row.ended_at is not None:
            duration = max(0.0, row.ended_at - row.started_at)
        turn_count = number(figures.get("turns"))
        return CallSummary(
            call_id=row.call_id,
            started_at=row.started_at,
            ended_at=row.ended_at,
            backend=row.backend,
            model=row.model,
            duration_s=duration,
            turns=None if turn_count is None else int(turn_count),
            v2v_p50_ms=number(figures.get("v2v_p50_ms")),
            cost_usd=number(figures.get("cost_usd")),
            has_audio=self._has_audio(row.call_id),
            status=row.status,
            owner=row.owner,
        )

    # audio -----------------------------------------------------------------------------

    def audio_path(self, call_id: str) -> Path:
        return self.audio_dir / f"{safe_name(call_id)}.pcm"

    def _has_audio(self, call_id: str) -> bool:
        try:
            return self.audio_path(call_id).stat().st_size > 0
        except OSError:
            return False

    def wav_bytes(self, call_id: str) -> bytes | None:
        if not self._has_audio(call_id):
            return None
        try:
            return wav_from_pcm(self.audio_path(call_id))
        except FileNotFoundError:  # deleted since the check
            return None

    # forgetting ------------------------------------------------------------------------

    def delete(self, call_id: str, owner: str | None = None) -> None:
        self._delete([call_id] if owner is None else self._owned(owner, [call_id]))

    def prune(self) -> int:
        """Keep the newest ``keep_calls`` calls; returns how many older ones went."""
        query = (
            select(calls.c.call_id)
            .order_by(calls.c.started_at.desc(), calls.c.call_id.desc())
            .offset(max(0, self.keep_calls))
        )
        with self._engine.connect() as conn:
            old = list(conn.execute(query).scalars())
        self._delete(old)
        return len(old)

    def delete_all(self, owner: str | None = None) -> None:
        if owner is not None:
            self._delete(self._owned(owner))
            return
        with self._engine.begin() as conn:
            for table in (events, turns, calls):
                conn.execute(delete(table))
        for path in self.audio_dir.glob("*.pcm"):
            path.unlink(missing_ok=True)

    def _owned(self, owner: str, among: Sequence[str] | None = None) -> list[str]:
        """The ids of ``owner``'s calls (of those ``among``, if given)."""
        query = select(calls.c.call_id).where(calls.c.owner == owner)
        if among is not None:
            query = query.where(calls.c.call_id.in_(among))
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def _delete(self, call_ids: Sequence[str]) -> None:
        with self._engine.begin() as conn:
            for chunk in chunks(call_ids):
                for table in (events, turns, calls):
                    conn.execute(delete(table).where(table.c.call_id.in_(chunk)))
        for call_id in call_ids:
            self.audio_path(call_id).unlink(missing_ok=True)

    def close(self) -> None:
        self._engine.dispose()
