"""One long call: does the bridge's added delay or the process's memory creep over time?

A browser leg (an aiortc page in this process, asking a question every 15 s) through the
real bridge to ``voicelab serve-local`` in its own process, for ``--minutes``. Every
``--every`` seconds it prints the bridge's added delay per direction over that span (from
the timestamps at its queues, as ``bench_bridge.py``), this process's RSS, threads and
file descriptors, the turns so far and the frames the page heard; at the end, the first
report's figures beside the last ones. Nothing here is asserted.

    python scripts/bench_long_call.py --minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import sys
import threading
import time
from pathlib import Path

import aioice.ice
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser_leg import BrowserLeg, until
from tests.conftest import local_server_process
from tests.speech import WEATHER, phrase
from voicelab.call import CONNECTED, Bridge, Target
from voicelab.protocol.session import SessionConfig

KEY = "bench"


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000.0 if values else float("nan")


async def ask(leg: BrowserLeg) -> None:
    speech = phrase(WEATHER, tail_s=1.0)
    while True:
        leg.speak(speech)
        await asyncio.sleep(15.0)


async def main(minutes: float, every_s: float) -> None:
    with local_server_process(KEY, exit_after_s=int(minutes * 60 + 300)) as url:
        bridge = Bridge()
        leg = BrowserLeg(bridge)
        await leg.connect()
        bridge.start(Target(url, KEY, "local"), SessionConfig())
        await until(bridge, lambda s: s.status == CONNECTED, timeout=30, what="connected")
        call_id = bridge.snapshot().call_id
        asking = asyncio.ensure_future(ask(leg))
        rows: list[tuple[float, ...]] = []
        started = time.monotonic()
        print(
            f"{'min':>5} {'up p50':>7} {'up p99':>7} {'down p50':>8} {'down p99':>8} "
            f"{'RSS MB':>7} {'threads':>7} {'fds':>4} {'turns':>5} {'heard/s':>7}",
            flush=True,
        )
        try:
            while time.monotonic() - started < minutes * 60:
                await asyncio.sleep(every_s)
                figures = bridge.delays()
                snap = bridge.snapshot()
                assert snap.status == CONNECTED and snap.call_id == call_id, snap.problem
                assert figures is not None and figures.downlink is not None
                n = int(every_s * 50)  # the span's frames (the stats keep the last 3000)
                up = list(figures.uplink.values)[-n:]
                down = list(figures.downlink.values)[-n:]
                heard = len(leg.heard) / every_s
                leg.heard.clear()  # the page's record would otherwise grow this process
                gc.collect()
                row = (
                    (time.monotonic() - started) / 60, pct(up, 50), pct(up, 99),
                    pct(down, 50), pct(down, 99), rss_mb(), threading.active_count(),
                    len(os.listdir("/proc/self/fd")), len(snap.turns), heard,
                )  # fmt: skip
                rows.append(row)
                print(
                    f"{row[0]:5.1f} {row[1]:7.2f} {row[2]:7.2f} {row[3]:8.2f} {row[4]:8.2f} "
                    f"{row[5]:7.0f} {row[6]:7d} {row[7]:4d} {row[8]:5d} {row[9]:7.1f}",
                    flush=True,
                )
        finally:
            asking.cancel()
            await asyncio.to_thread(bridge.stop, 10.0)
            await leg.close()
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        print(
            f"\nfirst → last report: uplink p99 {first[2]:.2f} → {last[2]:.2f} ms, "
            f"downlink p99 {first[4]:.2f} → {last[4]:.2f} ms, RSS {first[5]:.0f} → "
            f"{last[5]:.0f} MB, threads {first[6]} → {last[6]}, fds {first[7]} → {last[7]}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between reports")
    args = parser.parse_args()
    # Loopback only, as in the tests: this bench never reaches beyond 127.0.0.1.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    asyncio.run(main(args.minutes, args.every))
