from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

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


@pytest.fixture
async def server():
    async with serving(api_key=TEST_KEY) as srv:
        yield srv


def key_shaped(body: str) -> str:
    """A string shaped like an OpenAI secret key (``sk-proj-…``), made at run time so that
    no file in the repository holds one. ``body`` needs 16 or more letters or digits."""
    return "-".join(("sk", "proj", body))
