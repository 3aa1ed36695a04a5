"""The history's schema and the portable SQL helpers its store is written with: three
tables (calls, turns, events) with string keys and JSON kept as text, so a PostgreSQL URL
works unchanged, and SQLite's WAL mode so the page can read while the writer writes."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Column, Engine, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy import inspect as inspect_db
from sqlalchemy import text as sql

ID_LENGTH = 255  # length of key columns
SHORT_LENGTH = 64
CHUNK = 500  # ids per IN (...): well under every backend's parameter limit

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("call_id", String(ID_LENGTH), primary_key=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("ended_at", Float),
    Column("backend", String(ID_LENGTH), nullable=False),
    Column("model", String(ID_LENGTH), nullable=False),
    Column("settings", Text, nullable=False),
    Column("figures", Text, nullable=False),
    Column("status", String(SHORT_LENGTH)),
    Column("problem", Text),
    # Who made the call on a hosted demo (the ledger's visitor); None otherwise.
    Column("owner", String(ID_LENGTH), index=True),
)

turns = Table(
    "turns",
    metadata,
    Column("call_id", String(ID_LENGTH), primary_key=True),
    Column("item_id", String(ID_LENGTH), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("data", Text, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("call_id", String(ID_LENGTH), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("direction", String(SHORT_LENGTH), nullable=False),
    Column("type", String(ID_LENGTH), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_events_call_type", "call_id", "type"),
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_name(call_id: str) -> str:
    """A file name for a call id. A hash is added whenever cleaning changed the id, so two
    ids that clean to the same text still get different files."""
    cleaned = _UNSAFE.sub("_", call_id)[:100]
    if cleaned != call_id or not cleaned:
        cleaned = f"{cleaned}-{hashlib.sha1(call_id.encode()).hexdigest()[:12]}"
    return cleaned


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_dict(text: str | None) -> dict[str, Any]:
    """A stored JSON object, or {} for anything else: one bad row never breaks a read."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def clip(text: str, length: int) -> str:
    # PostgreSQL refuses an over-long VARCHAR where SQLite would keep it.
    return str(text)[:length]


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def add_missing_column(engine: Engine, column: Column[Any]) -> None:
    """``column`` added to its table when the table was made by an older version
    (``create_all`` adds tables, not columns). Another process may add it at the same
    moment: then it is there."""
    table = column.table.name

    def present() -> bool:
        return column.name in {c["name"] for c in inspect_db(engine).get_columns(table)}

    if present():
        return
    kind = column.type.compile(dialect=engine.dialect)
    try:
        with engine.begin() as conn:
            conn.execute(sql(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}"))
    except Exception:
        if not present():
            raise


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
