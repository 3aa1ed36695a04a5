"""End of speech → first reply audio packet, against the local server on loopback.

A real aiortc client speaks a synthesized phrase at real time; "end of speech" is when the
microphone track sends the phrase's last sample, "first reply audio" is when the first
audible packet of the answer is decoded on the client. Prints the figures; asserts nothing
(this machine is shared and noisy: read the numbers, compare runs).

    python scripts/bench_latency.py [--turns 10] [--silence-ms 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aioice.ice

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.realtime_client import Client
from tests.speech import phrase, silence
from voicelab.local import LocalServer, ServerOptions

PHRASES = [
    "hello world, what is the weather like today",
    "please tell me a story about the ocean",
    "good morning, how are you doing",
]


async def run(turns: int, silence_ms: int) -> list[float]:
    # Loopback-only ICE for the benchmark process (never in the app).
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    server = LocalServer(ServerOptions(api_key="bench"))
    await server.start()
    session = {
        "type": "realtime",
        "instructions": "Be brief.",
        "audio": {
            "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": silence_ms}}
        },
    }
    client = Client(server.base_url, "bench", session)
    t0 = time.monotonic()
    await client.connect()
    print(f"connect → session.created: {(time.monotonic() - t0) * 1000:.0f} ms")
    latencies = []
    try:
        for turn in range(turns):
            speech = phrase(PHRASES[turn % len(PHRASES)], lead_s=0.5)
            mark = len(client.events)
            start = client.mic.push(speech)
            client.mic.push(silence(silence_ms / 1000 + 2.0))
            await client.mic.wait_sent(start + len(speech))
            speech_end = time.monotonic()
            await client.wait_for("output_audio_buffer.stopped", timeout=30, after=mark)
            first = client.loud_frames(since=speech_end)
            if not first:
                print(f"turn {turn + 1}: no audible reply", file=sys.stderr)
                continue
            latencies.append((first[0].at - speech_end) * 1000)
            stopped = await client.wait_for("input_audio_buffer.speech_stopped", after=mark)
            started = await client.wait_for("output_audio_buffer.started", after=mark)
            t_stop = (client.arrival_of(stopped) - speech_end) * 1000
            t_start = (client.arrival_of(started) - speech_end) * 1000
            print(
                f"turn {turn + 1}: {latencies[-1]:.0f} ms "
                f"(speech_stopped at {t_stop:.0f}, output_audio_buffer.started at {t_start:.0f})"
            )
            await asyncio.sleep(0.5)
    finally:
        await client.close()
        await server.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--silence-ms", type=int, default=500)
    args = parser.parse_args()
    latencies = asyncio.run(run(args.turns, args.silence_ms))
    if not latencies:
        raise SystemExit("no turn produced a reply")
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    target = args.silence_ms + 300
    print(
        f"end of speech → first reply audio: p50 {p50:.0f} ms, p90 {p90:.0f} ms, "
        f"min {ordered[0]:.0f}, max {ordered[-1]:.0f} over {len(ordered)} turns "
        f"(silence_duration_ms {args.silence_ms}; target p50 ≤ {target} ms: "
        f"{'met' if p50 <= target else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
