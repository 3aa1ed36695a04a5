"""Soak: many Start/Stop cycles through the bridge on loopback against the real local
server, checking that nothing a call holds outlives it: threads, file descriptors, the
server's calls, and resident memory (within 20 MB of what it was after the warm-up)."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import threading
from pathlib import Path

import pytest

from tests.browser_leg import until
from tests.conftest import TEST_KEY, serving
from voicelab.call import CONNECTED, Bridge, Target, native_memory
from voicelab.protocol.session import SessionConfig

CYCLES = 200
WARM_UP = 25  # the local server and the libraries fill their caches over the first ~20 calls
#: RSS may move this much after the warm-up: the heap's high-water marks, caches filling.
RSS_SLACK_MB = 20

pytestmark = pytest.mark.timeout(300)


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def settle() -> None:
    """The process as the next call's end leaves it: the garbage collected (aiortc's peers
    are cycles), and the heap freed handed back as each call thread does on its way out."""
    gc.collect()
    native_memory.release()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_two_hundred_calls_leave_no_thread_fd_or_call_behind():
    async with serving(api_key=TEST_KEY) as srv:
        bridge = Bridge()
        target = Target(srv.base_url, TEST_KEY, "local")
        for cycle in range(1, CYCLES + 1):
            bridge.start(target, SessionConfig())
            await until(bridge, lambda s: s.status == CONNECTED, timeout=20, what="connected")
            await asyncio.to_thread(bridge.stop, 10.0)
            if cycle == WARM_UP:
                await asyncio.sleep(0.5)
                settle()
                threads, fds, rss = threading.active_count(), open_fds(), rss_mb()
                pool = asyncio.get_running_loop()._default_executor
                pool_threads = len(pool._threads) if pool is not None else 0  # type: ignore[attr-defined]
        await asyncio.sleep(0.5)
        settle()
        print(
            f"\nafter {CYCLES} cycles: threads {threads} -> {threading.active_count()}, "
            f"fds {fds} -> {open_fds()}, RSS {rss:.0f} -> {rss_mb():.0f} MB"
        )
        # This loop's own pool (``to_thread`` above) may grow to its bound meanwhile.
        pool = asyncio.get_running_loop()._default_executor
        grown = len(pool._threads) - pool_threads if pool is not None else 0  # type: ignore[attr-defined]
        assert threading.active_count() - grown <= threads, threading.enumerate()
        assert open_fds() <= fds + 2, os.listdir("/proc/self/fd")
        assert bridge.threads() == [] and not srv.calls and srv.ended_calls == CYCLES
        assert abs(rss_mb() - rss) <= RSS_SLACK_MB, (rss, rss_mb())
