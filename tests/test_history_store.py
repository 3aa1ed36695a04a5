"""The call history: real SQLite files, real writer threads, real files on disk."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import wave
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from tests.postgres import fresh_database
from voicelab.history import (
    RATE,
    CallEnded,
    CallStarted,
    EventLogged,
    FiguresChanged,
    HistoryStore,
    HistoryWriter,
    Op,
    SettingsChanged,
    StereoPcmFile,
    TurnChanged,
    export_zip,
    tables,
    wav_from_pcm,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0


def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'history.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store on each database it is meant for: a SQLite file, and a fresh
    database on a real PostgreSQL server (``tests/postgres.py``)."""
    if request.param == "sqlite":
        return url(tmp_path)
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[HistoryStore]:
    history = HistoryStore(store_url, tmp_path / "audio")
    yield history
    history.close()


@pytest.fixture
def writer(store: HistoryStore) -> Iterator[HistoryWriter]:
    history_writer = HistoryWriter(store, flush_s=0.05)
    yield history_writer
    history_writer.close()


def started(call_id: str, at: float = T0, **settings: object) -> CallStarted:
    return CallStarted(call_id, at, "local", "gpt-realtime", dict(settings))


def turn(text: str, role: str = "user", status: str = "done", at: float = T0) -> dict:
    return {"role": role, "text": text, "status": status, "at": at}


def event(seq: int, kind: str = "session.update", direction: str = "sent") -> EventLogged:
    return EventLogged("c1", seq, T0 + seq, direction, {"type": kind, "n": seq})


def tone(seconds: float, hz: float, rate: int = 48000, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)


def rows(store: HistoryStore, table: str, call_id: str) -> int:
    with store.engine.connect() as conn:
        query = sqlalchemy.text(f"SELECT COUNT(*) FROM {table} WHERE call_id = :c")
        return conn.execute(query, {"c": call_id}).scalar_one()


def read_wav(data: bytes) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(io.BytesIO(data)) as wav:
        params = wav.getparams()
        frames = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return params, frames.reshape(-1, params.nchannels)


# the writer, op by op -------------------------------------------------------------------


def test_a_call_is_readable_while_it_runs(tmp_path: Path, writer: HistoryWriter) -> None:
    writer.submit(started("c1", voice="marin"))
    writer.submit(TurnChanged("c1", "u1", 0, turn("Hello")))
    writer.submit(event(0))
    writer.submit(event(1, "session.updated", "received"))
    writer.submit(FiguresChanged("c1", {"turns": 1, "v2v_p50_ms": 640.0}))
    assert writer.flush()

    # Another store on the same database, as the history page would open it.
    reader = HistoryStore(writer.store.url, tmp_path / "audio")
    try:
        live = reader.load("c1")
        assert live is not None
        assert live.summary.ended_at is None and live.summary.status is None
        assert live.settings == {"voice": "marin"}
        assert [t["text"] for t in live.turns] == ["Hello"]
        assert [(e.seq, e.direction, e.event["type"]) for e in live.events] == [
            (0, "sent", "session.update"),
            (1, "received", "session.updated"),
        ]
        assert live.figures == {"turns": 1, "v2v_p50_ms": 640.0}

        writer.submit(SettingsChanged("c1", {"voice": "cedar"}))
        writer.submit(TurnChanged("c1", "a1", 1, turn("Hi there", "assistant")))
        writer.submit(CallEnded("c1", T0 + 30, "ended", None))
        assert writer.flush()
        done = reader.load("c1")
        assert done is not None
        assert done.settings == {"voice": "cedar"}
        assert [t["text"] for t in done.turns] == ["Hello", "Hi there"]
        assert done.summary.ended_at == T0 + 30 and done.summary.status == "ended"
        assert done.summary.duration_s == 30  # from the times, figures had none
    finally:
        reader.close()
    assert writer.errors == 0 and writer.dropped == 0
    if writer.store.url.startswith("sqlite"):
        # WAL (kept in the file itself) is what lets the page read while the writer writes.
        with contextlib.closing(sqlite3.connect(tmp_path / "db" / "history.sqlite")) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_turns_keep_the_latest_text_in_position_order(store: HistoryStore) -> None:
    store.apply([started("c1"), TurnChanged("c1", "a1", 1, turn("Hel", "assistant", "streaming"))])
    store.apply(
        [
            TurnChanged("c1", "a1", 1, turn("Hello th", "assistant", "streaming")),
            TurnChanged("c1", "u1", 0, turn("Hi")),
            TurnChanged("c1", "a1", 1, turn("Hello there", "assistant", "interrupted")),
        ]
    )
    call = store.load("c1")
    assert call is not None
    assert [(t["role"], t["text"], t["status"]) for t in call.turns] == [
        ("user", "Hi", "done"),
        ("assistant", "Hello there", "interrupted"),
    ]

    # The server re-ordered the items: positions re-sent, the order follows.
    store.apply([TurnChanged("c1", "u1", 2, turn("Hi")), TurnChanged("c1", "u2", 0, turn("First"))])
    call = store.load("c1")
    assert call is not None
    assert [t["text"] for t in call.turns] == ["First", "Hello there", "Hi"]


def test_the_last_replacement_of_a_batch_wins(store: HistoryStore) -> None:
    ops: Sequence[Op] = [
        started("c1", voice="a"),
        SettingsChanged("c1", {"voice": "b"}),
        FiguresChanged("c1", {"turns": 1}),
        SettingsChanged("c1", {"voice": "c"}),
        FiguresChanged("c1", {"turns": 2}),
    ]
    store.apply(ops)
    call = store.load("c1")
    assert call is not None
    assert call.settings == {"voice": "c"} and call.figures == {"turns": 2}


def test_duplicate_events_are_ignored(store: HistoryStore) -> None:
    store.apply([started("c1"), event(0), event(1), event(1, "other")])
    store.apply([event(1, "again"), event(2), event(0, "again")])
    stored = store.events("c1")
    assert [(e.seq, e.event["type"]) for e in stored] == [
        (0, "session.update"),
        (1, "session.update"),
        (2, "session.update"),
    ]
    assert [e.seq for e in store.events("c1", after_seq=0)] == [1, 2]
    assert [e.seq for e in store.events("c1", after_seq=-1, limit=2)] == [0, 1]


def test_ops_for_a_call_never_started_or_deleted_are_ignored(store: HistoryStore) -> None:
    store.apply([TurnChanged("ghost", "u1", 0, turn("boo")), CallEnded("ghost", T0, "ended", None)])
    assert store.load("ghost") is None and store.list_calls() == []

    store.apply([started("c1")])
    store.delete("c1")
    store.apply([TurnChanged("c1", "u1", 0, turn("late")), event(5)])  # a late batch
    assert store.load("c1") is None
    assert store.events("c1") == []


def test_list_calls_summarises_newest_first(store: HistoryStore) -> None:
    store.apply(
        [
            started("old", T0),
            started("mid", T0 + 100),
            started("new", T0 + 200),
            FiguresChanged(
                "mid", {"turns": 4, "v2v_p50_ms": 812.5, "cost_usd": 0.0123, "duration_s": 61.5}
            ),
            CallEnded("mid", T0 + 170, "failed", "The connection was lost."),
            FiguresChanged("new", {"turns": "n/a", "cost_usd": None}),
        ]
    )
    store.audio_path("mid").write_bytes(b"\x00" * 400)

    summaries = store.list_calls()
    assert [s.call_id for s in summaries] == ["new", "mid", "old"]
    mid = summaries[1]
    assert (mid.started_at, mid.ended_at, mid.backend, mid.model) == (
        T0 + 100,
        T0 + 170,
        "local",
        "gpt-realtime",
    )
    assert (mid.turns, mid.v2v_p50_ms, mid.cost_usd, mid.duration_s) == (4, 812.5, 0.0123, 61.5)
    assert mid.has_audio and mid.status == "failed"
    new = summaries[0]
    assert (new.turns, new.cost_usd, new.duration_s, new.has_audio, new.status) == (
        None,
        None,
        None,
        False,
        None,
    )
    assert [s.call_id for s in store.list_calls(limit=1)] == ["new"]
    loaded = store.load("mid")
    assert loaded is not None and loaded.problem == "The connection was lost."


def test_delete_removes_rows_and_audio(
    tmp_path: Path, store: HistoryStore, writer: HistoryWriter
) -> None:
    for call_id in ("c1", "keep"):
        writer.submit(started(call_id))
        writer.submit(TurnChanged(call_id, "u1", 0, turn("Hello")))
        writer.submit(EventLogged(call_id, 0, T0, "sent", {"type": "session.update"}))
        writer.open_audio(call_id)
        writer.audio(call_id, 0, tone(0.2, 440), 0.0)
        writer.audio(call_id, 1, tone(0.2, 660), 0.0)
        writer.close_audio(call_id)
    assert writer.flush()
    assert store.audio_path("c1").stat().st_size > 0
    wav = store.wav_bytes("c1")
    assert wav is not None
    params, _ = read_wav(wav)
    assert (params.nchannels, params.framerate, params.sampwidth) == (2, RATE, 2)
    assert store.list_calls()[0].has_audio

    store.delete("c1")
    assert store.load("c1") is None
    assert not store.audio_path("c1").exists() and store.wav_bytes("c1") is None
    assert [rows(store, table, "c1") for table in ("calls", "turns", "events")] == [0, 0, 0]
    kept = store.load("keep")
    assert kept is not None and kept.summary.has_audio and len(kept.events) == 1

    store.delete_all()
    assert store.list_calls() == [] and not store.audio_path("keep").exists()
    assert rows(store, "events", "keep") == 0


def test_a_hosted_visitor_lists_loads_and_deletes_only_their_own_calls(
    store: HistoryStore,
) -> None:
    ada, bob = "https://idp user-ada", "https://idp user-bob"
    store.apply(
        [
            CallStarted("a1", T0, "openai", "gpt-realtime", {}, owner=ada),
            CallStarted("b1", T0 + 1, "openai", "gpt-realtime", {}, owner=bob),
            CallStarted("a2", T0 + 2, "openai", "gpt-realtime", {}, owner=ada),
            started("laptop", T0 + 3),  # made when the app was not hosted: nobody's
        ]
    )
    assert [c.call_id for c in store.list_calls(owner=ada)] == ["a2", "a1"]
    assert [c.call_id for c in store.list_calls()] == ["laptop", "a2", "b1", "a1"]
    assert store.list_calls()[2].owner == bob
    assert store.load("b1", owner=ada) is None and store.load("b1", owner=bob) is not None

    store.delete("b1", owner=ada)  # not hers: nothing happens
    assert store.load("b1") is not None
    store.delete_all(owner=ada)
    assert [c.call_id for c in store.list_calls()] == ["laptop", "b1"]
    store.delete("b1", owner=bob)
    assert [c.call_id for c in store.list_calls()] == ["laptop"]


def test_a_store_made_before_owners_gets_the_column_and_keeps_its_calls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = HistoryStore(url, tmp_path / "audio")
    old.apply([started("before")])
    old.close()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:  # as the table was before the column existed
        conn.execute(sqlalchemy.text("DROP INDEX ix_calls_owner"))
        conn.execute(sqlalchemy.text("ALTER TABLE calls DROP COLUMN owner"))
    engine.dispose()
    upgraded = HistoryStore(url, tmp_path / "audio")
    try:
        upgraded.apply([CallStarted("after", T0 + 1, "local", "m", {}, owner="v")])
        assert [c.call_id for c in upgraded.list_calls()] == ["after", "before"]
        assert [c.call_id for c in upgraded.list_calls(owner="v")] == ["after"]
    finally:
        upgraded.close()


def test_prune_keeps_the_newest(store_url: str, tmp_path: Path) -> None:
    history = HistoryStore(store_url, tmp_path / "audio", keep_calls=3)
    try:
        history.apply([started(f"c{i}", T0 + i) for i in range(5)])
        history.apply([TurnChanged(f"c{i}", "u1", 0, turn("hi")) for i in range(5)])
        for i in range(5):
            history.audio_path(f"c{i}").write_bytes(b"\x00" * 4)
        assert history.prune() == 2
        assert [s.call_id for s in history.list_calls()] == ["c4", "c3", "c2"]
        assert not history.audio_path("c0").exists() and not history.audio_path("c1").exists()
        assert history.audio_path("c2").exists()
        assert rows(history, "turns", "c0") == 0
        assert history.prune() == 0
    finally:
        history.close()


def test_audio_paths_stay_in_the_audio_dir(store: HistoryStore) -> None:
    for call_id in ("../../etc/passwd", "a b", "a_b", "", "x" * 300):
        path = store.audio_path(call_id)
        assert path.parent == store.audio_dir
        assert re.fullmatch(r"[A-Za-z0-9_-]+\.pcm", path.name), path.name
    assert store.audio_path("a b") != store.audio_path("a_b")
    assert store.audio_path("rtc_abc-1").name == "rtc_abc-1.pcm"


def test_tables_compile_for_postgresql() -> None:
    for table in tables.metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=postgresql.dialect()))


# failures -------------------------------------------------------------------------------


def test_a_bad_op_costs_only_itself(
    store: HistoryStore, writer: HistoryWriter, caplog: pytest.LogCaptureFixture
) -> None:
    writer.submit(started("c1"))
    assert writer.flush()
    with caplog.at_level(logging.ERROR, logger="voicelab.history.writer"):
        writer.submit(TurnChanged("c1", "bad", 0, {"text": object()}))  # not JSON
        writer.submit(TurnChanged("c1", "u1", 1, turn("same batch")))
        assert writer.flush()
        writer.submit(TurnChanged("c1", "bad2", 2, {"text": {1, 2}}))
        writer.submit(event(0))
        assert writer.flush()
    writer.submit(TurnChanged("c1", "u2", 3, turn("later")))
    assert writer.flush()

    call = store.load("c1")
    assert call is not None
    assert [t["text"] for t in call.turns] == ["same batch", "later"]
    assert [e.seq for e in call.events] == [0]
    assert writer.errors >= 2 and writer.lost == 2
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1  # once per kind


def test_a_failing_database_does_not_stop_the_writer(
    tmp_path: Path, store: HistoryStore, writer: HistoryWriter
) -> None:
    writer.submit(started("c1"))
    assert writer.flush()
    engine = sqlalchemy.create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DROP TABLE turns"))
        writer.submit(TurnChanged("c1", "u1", 0, turn("lost")))  # no such table
        assert writer.flush()
        assert writer.errors == 1 and writer.lost == 1
        writer.submit(event(0))
        writer.submit(CallEnded("c1", T0 + 5, "ended", None))
        assert writer.flush()
    finally:
        engine.dispose()
    assert [e.seq for e in store.events("c1")] == [0]
    summary = store.list_calls()[0]
    assert summary.status == "ended" and writer.errors == 1


class GatedStore(HistoryStore):
    """A store whose writes wait for the test to open the gate."""

    def __init__(self, url: str, audio_dir: Path) -> None:
        super().__init__(url, audio_dir)
        self.gate = threading.Lock()
        self.waiting = threading.Event()

    def apply(self, ops: Sequence[Op]) -> None:
        self.waiting.set()
        with self.gate:
            super().apply(ops)


def test_a_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    gated = GatedStore(url(tmp_path), tmp_path / "audio")
    gated.gate.acquire()
    history_writer = HistoryWriter(gated, flush_s=0.02, max_queue=4)
    try:
        history_writer.submit(started("c1"))
        assert gated.waiting.wait(5), "the writer never tried to store"
        began = time.monotonic()
        for seq in range(14):  # the writer is stuck: 4 fit, 10 do not
            history_writer.submit(event(seq))
        history_writer.audio("c1", 0, tone(0.02, 440), 0.0)
        assert time.monotonic() - began < 0.5
        assert history_writer.dropped == 11
    finally:
        gated.gate.release()
    try:
        assert history_writer.flush()
        assert [e.seq for e in gated.events("c1")] == [0, 1, 2, 3]
        assert history_writer.errors == 0
    finally:
        history_writer.close()
        gated.close()


# audio --------------------------------------------------------------------------------


def rms(frames: np.ndarray, channel: int, start_s: float, end_s: float) -> float:
    part = frames[round(start_s * RATE) : round(end_s * RATE), channel].astype(np.float64)
    return float(np.sqrt(np.mean(part**2)))


def test_two_channels_land_where_they_happened(tmp_path: Path) -> None:
    path = tmp_path / "call.pcm"
    audio = StereoPcmFile(path)
    chunk = 0.02
    for i in range(125):  # the microphone sends all along: 2.5 s, a burst at 0.5–1.0 s
        at = i * chunk
        samples = tone(chunk, 1000) if 0.5 <= at < 1.0 else np.zeros(960, dtype=np.int16)
        audio.write(0, samples, at)
        if 1.5 <= at < 2.0:  # the model speaks only at 1.5–2.0 s, nothing is sent otherwise
            audio.write(1, tone(chunk, 600), at)
    audio.close()

    params, frames = read_wav(wav_from_pcm(path))
    assert (params.nchannels, params.framerate, params.sampwidth) == (2, RATE, 2)
    assert params.nframes / RATE == pytest.approx(2.5, abs=0.05)
    assert audio.duration_s == pytest.approx(2.5, abs=0.05)
    left, right = 0, 1
    assert rms(frames, left, 0.55, 0.95) > 3000 and rms(frames, right, 0.55, 0.95) < 30
    assert rms(frames, right, 1.55, 1.95) > 3000 and rms(frames, left, 1.55, 1.95) < 30
    for quiet in ((0.0, 0.45), (1.05, 1.45), (2.05, 2.5)):
        assert rms(frames, left, *quiet) < 30 and rms(frames, right, *quiet) < 30, quiet


def test_a_silent_direction_does_not_hold_the_file_back(tmp_path: Path) -> None:
    audio = StereoPcmFile(tmp_path / "call.pcm")
    for i in range(150):  # 3 s of microphone, nothing towards the browser
        audio.write(0, tone(0.02, 440), i * 0.02)
    audio.flush()
    assert audio.duration_s == pytest.approx(2.0, abs=0.05)  # one second of slack is kept
    audio.close()
    assert audio.duration_s == pytest.approx(3.0, abs=0.05)


def test_audio_is_bounded_and_a_partial_frame_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "call.pcm"
    audio = StereoPcmFile(path, max_seconds=1.0)
    for i in range(150):
        audio.write(0, tone(0.02, 440), i * 0.02)
        audio.write(1, tone(0.02, 440), i * 0.02)
    audio.write(1, tone(0.02, 440), 3600.0)  # far ahead: clipped, not an hour of zeros
    audio.close()
    assert audio.samples_written == RATE
    assert path.stat().st_size == RATE * 4

    with path.open("ab") as f:
        f.write(b"\x01\x02\x03")  # killed mid-frame
    params, _ = read_wav(wav_from_pcm(path))
    assert params.nframes == RATE


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from voicelab.history import CallStarted, EventLogged, HistoryStore, HistoryWriter, TurnChanged

    root = Path(sys.argv[1])
    store = HistoryStore(f"sqlite:///{root / 'db' / 'history.sqlite'}", root / "audio")
    writer = HistoryWriter(store)  # the app's defaults
    t0 = time.time()
    writer.submit(CallStarted("killed", t0, "local", "test-model", {"voice": "marin"}))
    writer.open_audio("killed")
    voice = (np.sin(np.arange(960) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
    writer.flush()
    print("ready", flush=True)
    seq = 0
    while True:
        now = time.time()
        writer.submit(EventLogged("killed", seq, now, "sent", {"type": "tick", "seq": seq}))
        turn = {"role": "user", "text": f"tick {seq}", "status": "streaming", "at": now}
        writer.submit(TurnChanged("killed", "u1", 0, turn))
        writer.audio("killed", 0, voice, now - t0)
        writer.audio("killed", 1, voice, now - t0)
        seq += 1
        time.sleep(0.02)
    """
)


def test_a_killed_process_loses_at_most_the_last_second(tmp_path: Path) -> None:
    errors = tmp_path / "child.err"
    with errors.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            child.wait(10)
            pytest.fail(f"the child did not start: {errors.read_text()}")
        time.sleep(2.0)
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL

    history = HistoryStore(url(tmp_path), tmp_path / "audio")
    try:
        call = history.load("killed")
        assert call is not None
        assert call.settings == {"voice": "marin"} and call.summary.ended_at is None
        seqs = [e.seq for e in call.events]
        assert seqs == list(range(len(seqs))) and seqs
        lag = killed_at - call.events[-1].at
        assert lag <= 1.0, lag
        # What is kept is a prefix of what was submitted (event n, then turn n): a batch may
        # end between the two, never skip one.
        assert call.turns[0]["text"] in {f"tick {seqs[-1]}", f"tick {seqs[-1] - 1}"}
        wav = history.wav_bytes("killed")
        assert wav is not None
        params, _ = read_wav(wav)
        assert params.nchannels == 2 and params.framerate == RATE
        assert params.nframes / RATE >= 1.0  # 2 s ran after "ready": all but the last second
    finally:
        history.close()


EXITING = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from voicelab.history import CallStarted, HistoryStore, HistoryWriter, TurnChanged

    root = Path(sys.argv[1])
    store = HistoryStore(f"sqlite:///{root / 'db' / 'history.sqlite'}", root / "audio")
    writer = HistoryWriter(store, flush_s=60.0)  # nothing would be stored before exit
    writer.submit(CallStarted("exited", 1.0, "local", "test-model", {}))
    writer.submit(TurnChanged("exited", "u1", 0, {"role": "user", "text": "bye"}))
    """
)


def test_a_writer_left_open_still_stores_at_exit(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", EXITING, str(tmp_path)], cwd=ROOT, check=True, timeout=60)
    history = HistoryStore(url(tmp_path), tmp_path / "audio")
    try:
        call = history.load("exited")
        assert call is not None and call.turns == [{"role": "user", "text": "bye"}]
    finally:
        history.close()


# export --------------------------------------------------------------------------------


def test_export_zip_holds_the_call(store: HistoryStore) -> None:
    store.apply(
        [
            started("c1", voice="marin"),
            TurnChanged("c1", "u1", 0, turn("What is the weather like?", at=T0 + 3)),
            TurnChanged("c1", "a1", 1, turn("It is sunny and", "assistant", "interrupted")),
            TurnChanged("c1", "u2", 2, {"role": "user", "status": "failed"}),  # no text, no time
            event(0),
            event(1, "session.updated", "received"),
            FiguresChanged("c1", {"turns": 3, "v2v_p50_ms": 700.0}),
            CallEnded("c1", T0 + 40, "ended", None),
        ]
    )
    call = store.load("c1")
    assert call is not None
    wav = wav_from_pcm(write_pcm(store.audio_path("c1")))
    archive = zipfile.ZipFile(io.BytesIO(export_zip(call, wav)))
    assert sorted(archive.namelist()) == sorted(
        [
            "transcript.md",
            "transcript.json",
            "events.jsonl",
            "session.json",
            "metrics.json",
            "audio.wav",
        ]
    )
    markdown = archive.read("transcript.md").decode()
    assert "local" in markdown and "gpt-realtime" in markdown
    assert "**You** (" in markdown and "): What is the weather like?" in markdown
    assert "**Model**" in markdown and "(interrupted)" in markdown and "(failed)" in markdown
    assert [t.get("text") for t in json.loads(archive.read("transcript.json"))] == [
        "What is the weather like?",
        "It is sunny and",
        None,
    ]
    lines = archive.read("events.jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"seq": 0, "at": T0, "direction": "sent", "event": {"type": "session.update", "n": 0}},
        {
            "seq": 1,
            "at": T0 + 1,
            "direction": "received",
            "event": {"type": "session.updated", "n": 1},
        },
    ]
    assert json.loads(archive.read("session.json")) == {"voice": "marin"}
    metrics = json.loads(archive.read("metrics.json"))
    assert metrics["figures"] == {"turns": 3, "v2v_p50_ms": 700.0}
    assert metrics["call_id"] == "c1" and metrics["v2v_p50_ms"] == 700.0
    params, _ = read_wav(archive.read("audio.wav"))
    assert params.nchannels == 2 and params.framerate == RATE

    bare = zipfile.ZipFile(io.BytesIO(export_zip(call, None)))
    assert "audio.wav" not in bare.namelist() and len(bare.namelist()) == 5


def write_pcm(path: Path) -> Path:
    audio = StereoPcmFile(path)
    audio.write(0, tone(0.1, 440), 0.0)
    audio.write(1, tone(0.1, 660), 0.0)
    audio.close()
    return path
