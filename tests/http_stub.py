"""A throwaway HTTP endpoint on a free loopback port, for tests that need a server to answer
in a particular way (a refused call setup, a chat-completions backend)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.Response]]


@contextlib.asynccontextmanager
async def http_stub(path: str, handler: Handler) -> AsyncIterator[str]:
    """Serves POST ``path``; yields ``http://127.0.0.1:PORT``."""
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
