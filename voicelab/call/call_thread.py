"""A call's own asyncio loop in its own daemon thread.

Everything that speaks the protocol runs on this loop; other threads reach it only through
``call_soon`` (fire and forget) and ``run`` (wait for the result, bounded). When ``main``
returns, every task left is cancelled and the loop is closed: nothing of a call outlives it,
and the heap it freed goes back to the system (``native_memory``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from voicelab.call import native_memory

log = logging.getLogger(__name__)

T = TypeVar("T")
THREAD_PREFIX = "voicelab-call-"


class LoopClosed(RuntimeError):
    """The call's loop has closed: the call is over."""


class CallThread:
    def __init__(
        self,
        number: int,
        main: Callable[[asyncio.Event], Awaitable[None]],
        on_crash: Callable[[], None],
    ) -> None:
        """``main(stop)`` runs on the loop until it returns; ``stop`` is set by
        ``request_stop``. ``on_crash`` is called (on the thread) if ``main`` raises."""
        self._main = main
        self._on_crash = on_crash
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._run, name=f"{THREAD_PREFIX}{number}", daemon=True
        )
        self._stop: asyncio.Event | None = None
        self._stop_requested = False

    def start(self) -> None:
        self.thread.start()

    def request_stop(self) -> None:
        """From any thread; ``main`` is told to wind down."""
        self._stop_requested = True
        if self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self.loop.call_soon_threadsafe(self._stop.set)

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (never from the thread itself)."""
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """From any thread: run ``fn(*args)`` on the loop; nothing if the call is over."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(fn, *args)

    def run(self, fn: Callable[[], T], timeout: float) -> T:
        """From another thread: run ``fn`` on the loop and return its result. Raises what
        ``fn`` raised, ``LoopClosed``, or ``TimeoutError`` (then ``fn`` never runs late)."""

        async def on_loop() -> T:
            return fn()

        coro = on_loop()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError as exc:
            coro.close()
            raise LoopClosed from exc
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TimeoutError from exc

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._guarded())
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()
            native_memory.release()

    async def _guarded(self) -> None:
        self._stop = asyncio.Event()
        if self._stop_requested:
            return
        try:
            await self._main(self._stop)
        except Exception:  # never let a bug escape a thread silently
            log.exception("%s crashed", self.thread.name)
            self._on_crash()


async def first(
    wanted: asyncio.Future[Any], stop: asyncio.Event, timeout: float | None = None
) -> bool:
    """Wait for ``wanted`` or ``stop``, whichever comes first (at most ``timeout``); True if
    ``wanted`` is done. ``wanted`` is left running otherwise: the caller decides."""
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({wanted, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    return wanted.done()
