from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import aioice.ice
import pytest

from voicelab.local import LocalServer, ServerOptions

TEST_KEY = "test-key-not-a-secret"


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICE on 127.0.0.1 only: aioice leaves loopback out by default, and tests never reach
    beyond it. Patched in the test process only, never in the app."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@contextlib.asynccontextmanager
async def serving(**options) -> AsyncIterator[LocalServer]:
    """A local server on a free loopback port for the length of the block."""
    srv = LocalServer(ServerOptions(**options))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@contextlib.contextmanager
def local_server_process(
    key: str, exit_after_s: int = 600, port: int = 0, flags: Sequence[str] = ()
) -> Iterator[str]:
    """``voicelab serve-local`` in its own process, as a user would run it; yields its URL.
    ``flags`` are more of its options (faults); a fixed ``port`` lets a server with other
    flags take over the address an app was started with."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicelab", "serve-local", "--port", str(port), "--api-key", key,
         "--exit-after", str(exit_after_s), *flags],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://\S+/v1", line)
        assert url, f"server printed {line!r}"
        yield url.group(0)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def server():
    async with serving(api_key=TEST_KEY) as srv:
        yield srv


def key_shaped(body: str) -> str:
    """A string shaped like an OpenAI secret key (``sk-proj-…``), made at run time so that
    no file in the repository holds one. ``body`` needs 16 or more letters or digits."""
    return "-".join(("sk", "proj", body))


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """One private PostgreSQL server for the whole run, started when a test first asks."""
    from tests.postgres import postgres_server

    with postgres_server() as url:
        yield url
