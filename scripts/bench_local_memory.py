"""What each open call costs the local server in memory, and what it keeps after hang-up.

    python scripts/bench_local_memory.py --calls 6

Runs ``voicelab serve-local`` in its own process, opens ``--calls`` calls one after another
(real WebRTC on loopback), says a phrase into each so its recognizer has worked, and prints
the server's RSS after each call is up, then after every call has hung up.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.realtime_client import Client  # noqa: E402
from tests.speech import WEATHER, phrase  # noqa: E402

KEY = "bench-key-not-a-secret"


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


async def measure(base_url: str, pid: int, calls: int) -> None:
    await asyncio.sleep(1.0)
    idle = rss_mb(pid)
    print(f"server idle: {idle:.0f} MB")
    open_calls: list[Client] = []
    before = idle
    for n in range(1, calls + 1):
        client = Client(base_url, KEY, {"type": "realtime", "output_modalities": ["text"]})
        await client.connect()
        client.speak(phrase(WEATHER, lead_s=0.3, tail_s=1.0))
        await client.wait_for("response.done", 30)  # heard, recognised, answered
        open_calls.append(client)
        now = rss_mb(pid)
        print(f"{n} open: {now:.0f} MB (+{now - before:.0f} MB for this call)")
        before = now
    for client in open_calls:
        await client.close()
    await asyncio.sleep(2.0)
    after = rss_mb(pid)
    print(
        f"all hung up: {after:.0f} MB; per open call {(before - idle) / calls:.0f} MB on "
        f"average, {after - idle:.0f} MB kept over idle"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "voicelab", "serve-local", "--port", "0", "--api-key", KEY,
         "--exit-after", "600"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = re.search(r"http://\S+/v1", server.stdout.readline())
        assert url, "the server did not say where it listens"
        asyncio.run(measure(url.group(0), server.pid, args.calls))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
