"""The bridge's own cost: Start → session.created, and the delay it adds per direction,
measured with timestamps at its queues, over real WebRTC on loopback.

* uplink: a browser frame handed to the sink callback → the same frame returned by the
  upstream track's ``recv`` (the cross-thread hop plus the relay queue).
* downlink: a decoded model frame arriving from the upstream → the same frame returned by
  the browser leg's output track's ``recv`` (the hop onto the browser leg's loop plus the
  playback queue).

    python scripts/bench_bridge.py --calls 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aioice.ice
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser_leg import BrowserLeg, until
from voicelab.call import CONNECTED, Bridge, Target
from voicelab.local import LocalServerThread, ServerOptions
from voicelab.protocol.session import SessionConfig

KEY = "bench"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000.0 if values else float("nan")


async def one_call(base_url: str, key: str) -> tuple[float, list[float], list[float]]:
    bridge = Bridge()
    leg = BrowserLeg(bridge)
    await leg.connect()
    bridge.start(Target(base_url, key, "local"), SessionConfig())
    snap = await until(bridge, lambda s: s.status == CONNECTED, timeout=30)
    await asyncio.sleep(0.5)
    for text in ("tell me about the weather today", "please tell me a story about the ocean"):
        await asyncio.to_thread(bridge.send_text, text)
        await asyncio.sleep(5.0)
    figures = bridge.delays()
    assert figures is not None and figures.downlink is not None
    uplink, downlink = list(figures.uplink.values), list(figures.downlink.values)
    await asyncio.to_thread(bridge.stop, 10.0)
    await leg.close()
    return snap.connect_ms or float("nan"), uplink, downlink


async def main(calls: int) -> None:
    server = LocalServerThread(ServerOptions(api_key=KEY))
    base_url = server.start()
    connects: list[float] = []
    ups: list[float] = []
    downs: list[float] = []
    try:
        for n in range(calls):
            connect_ms, up, down = await one_call(base_url, KEY)
            connects.append(connect_ms)
            ups += up
            downs += down
            print(
                f"call {n + 1}: Start→session.created {connect_ms:6.0f} ms | "
                f"uplink p50 {pct(up, 50):5.2f} p99 {pct(up, 99):5.2f} ms (n={len(up)}) | "
                f"downlink p50 {pct(down, 50):5.2f} p99 {pct(down, 99):5.2f} ms (n={len(down)})"
            )
    finally:
        server.stop()
    print(
        f"\nall {calls} calls: Start→session.created p50 {np.median(connects):.0f} ms, "
        f"max {max(connects):.0f} ms\n"
        f"uplink   p50 {pct(ups, 50):.2f} ms  p99 {pct(ups, 99):.2f} ms  max {pct(ups, 100):.2f}"
        f" ms  (n={len(ups)})\n"
        f"downlink p50 {pct(downs, 50):.2f} ms  p99 {pct(downs, 99):.2f} ms  "
        f"max {pct(downs, 100):.2f} ms  (n={len(downs)})\n"
        "targets: p50 <= 5 ms, p99 <= 25 ms per direction"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args()
    # Loopback only, as in the tests: this bench never reaches beyond 127.0.0.1.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    asyncio.run(main(args.calls))
