"""A private PostgreSQL server for the tests (Debian's ``postgresql`` package): its own
cluster in a temporary folder, on 127.0.0.1 and a free port, with trust authentication for
one role. It runs as the ``postgres`` user when the tests run as root (PostgreSQL refuses
root), and dies with the process that started it (``PR_SET_PDEATHSIG``), so a killed test
run leaves no server behind."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.processes import dies_with_parent, free_port

ROLE = "voicelab"


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("These tests need Debian's postgresql: apt-get install postgresql")
    return found[-1].parent


def _as_owner(uid: int | None, gid: int | None):
    """For ``preexec_fn``: drop to the cluster's owner, then ask to die with the parent
    (after the switch: changing credentials clears the death signal)."""

    def switch() -> None:
        if gid is not None and uid is not None:
            os.setgid(gid)
            os.setuid(uid)
        dies_with_parent()

    return switch


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields the server's SQLAlchemy URL (database ``postgres``)."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="voicelab-pg-"))
    uid = gid = None
    if os.getuid() == 0:
        owner = pwd.getpwnam("postgres")
        uid, gid = owner.pw_uid, owner.pw_gid
        os.chown(root, uid, gid)
    data, sockets = root / "data", root
    port = free_port()
    switch = _as_owner(uid, gid)
    subprocess.run(
        [bindir / "initdb", "-D", data, "-U", ROLE, "-A", "trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, preexec_fn=switch, cwd=root,
    )  # fmt: skip
    server = subprocess.Popen(
        [bindir / "postgres", "-D", data, "-p", str(port), "-k", sockets,
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=switch, cwd=root,
    )  # fmt: skip
    url = f"postgresql+psycopg://{ROLE}@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while True:
            probe = create_engine(url)
            try:
                probe.connect().close()
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"PostgreSQL did not start: {server.stderr.read().decode()[-2000:]}"
                        if server.stderr
                        else "PostgreSQL did not start"
                    ) from None
                time.sleep(0.2)
            finally:
                probe.dispose()
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown: clients still connected are cut
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(15)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    name = f"t_{secrets.token_hex(6)}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
