"""What a live call's page costs: Chromium's CPU (all its processes) and the app process's,
on the Talk page fully live against a bare streamlit-webrtc echo page, with the concealed
share of the voice the browser played.

    python scripts/bench_page.py --seconds 30

Each page is served by its own ``streamlit run`` (the app with no key uses its offline
backend), opened in Debian's Chromium with a fake microphone that says a phrase every few
seconds, started, left to settle, and measured over ``--seconds``. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.speech import phrase, silence  # noqa: E402
from tests.test_browser import (  # noqa: E402
    INBOUND,
    MAIN,
    PROCESSES,
    browser_page,
    component_frame,
    connected,
    streamlit_app,
    wait_text,
)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(match) -> float:
    """User + system CPU of every process whose name ``match`` accepts."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if not match(entry.name, comm):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / TICK


def _measure(url, app_pid, label, mic, seconds, warmup_s, tmp, live) -> dict:
    with browser_page(url, tmp / f"{label}.wav", mic, loop=True) as page:
        frame = component_frame(page)
        frame.get_by_role("button", name="Start").click()
        if live:
            wait_text(page, MAIN, connected, 30)
        time.sleep(warmup_s)
        chrome = lambda pid, comm: comm.startswith("chrom")  # noqa: E731
        app = lambda pid, comm: pid == app_pid  # noqa: E731
        c0, a0, s0 = cpu_seconds(chrome), cpu_seconds(app), frame.evaluate(INBOUND)
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        c1, a1, s1 = cpu_seconds(chrome), cpu_seconds(app), frame.evaluate(INBOUND)
        samples = s1["samples"] - s0["samples"]
        return {
            "page": label,
            "chromium_core_pct": 100 * (c1 - c0) / elapsed,
            "app_core_pct": 100 * (a1 - a0) / elapsed,
            "concealed_pct": 100 * (s1["concealed"] - s0["concealed"]) / max(samples, 1),
            "received_s": samples / 48000,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=6.0)
    args = parser.parse_args()
    mic = np.concatenate(
        [silence(1.5), phrase("what is the weather like in london today"), silence(6.0)]
    )
    results = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for label, script, live in (
            ("echo", "scripts/echo_app.py", False),
            ("talk", "app.py", True),
        ):
            with streamlit_app(
                tmp,
                log_name=f"{label}.log",
                script=script,
                OPENAI_API_KEY=None,
                OPENAI_BASE_URL=None,
            ) as url:
                results.append(
                    _measure(
                        url,
                        str(PROCESSES[url].pid),
                        label,
                        mic,
                        args.seconds,
                        args.warmup,
                        tmp,
                        live,
                    )
                )
    for r in results:
        print(
            f"{r['page']:>5}: Chromium {r['chromium_core_pct']:5.1f} % of a core · app "
            f"process {r['app_core_pct']:5.1f} % · concealed {r['concealed_pct']:.2f} % "
            f"of {r['received_s']:.0f} s"
        )
    if any(r["received_s"] < 0.5 * args.seconds for r in results):
        raise SystemExit("A page's call did not carry the voice for the whole window; run again.")
    echo, talk = results
    print(f"Talk / echo, Chromium: {talk['chromium_core_pct'] / echo['chromium_core_pct']:.2f}×")


if __name__ == "__main__":
    main()
