"""What a live call's page costs: Chromium's CPU (all its processes) and the app process's,
on the Talk page fully live against a bare streamlit-webrtc echo page, with the concealed
share of the voice the browser played.

    python scripts/bench_page.py --seconds 30 --runs 3

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


def chromium_kind(pid: str) -> str | None:
    """Which of Chromium's processes this is (``None``: not Chromium)."""
    try:
        # Chromium rewrites its children's command lines into one space-separated string
        argv = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return None
    if not argv or not Path(argv[0].decode(errors="replace")).name.startswith("chrom"):
        return None
    for arg in argv:
        if arg.startswith(b"--type="):
            return arg[7:].decode()
    return "browser"


def by_kind() -> dict[str, float]:
    """CPU seconds of Chromium's processes, summed per kind (renderer, gpu-process, …)."""
    totals: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (kind := chromium_kind(entry.name)):
            totals[kind] = totals.get(kind, 0.0) + cpu_seconds(
                lambda pid, c, n=entry.name: pid == n
            )
    return totals


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
        k0 = by_kind()
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        c1, a1, s1 = cpu_seconds(chrome), cpu_seconds(app), frame.evaluate(INBOUND)
        k1 = by_kind()
        samples = s1["samples"] - s0["samples"]
        return {
            "page": label,
            "chromium_core_pct": 100 * (c1 - c0) / elapsed,
            "app_core_pct": 100 * (a1 - a0) / elapsed,
            "concealed_pct": 100 * (s1["concealed"] - s0["concealed"]) / max(samples, 1),
            "received_s": samples / 48000,
            "kinds": {k: 100 * (v - k0.get(k, 0.0)) / elapsed for k, v in sorted(k1.items())},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=15.0,
        help="seconds between Start and the measure: past the first figures' chart load",
    )
    parser.add_argument(
        "--pages", default="echo,talk", help="which pages to measure, e.g. talk (default both)"
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="measure each page this many times, alternating"
    )
    args = parser.parse_args()
    mic = np.concatenate(
        [silence(1.5), phrase("what is the weather like in london today"), silence(6.0)]
    )
    pages = [
        p
        for p in (("echo", "scripts/echo_app.py", False), ("talk", "app.py", True))
        if p[0] in args.pages.split(",")
    ]
    results: dict[str, list[dict]] = {label: [] for label, _, _ in pages}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for _ in range(args.runs):
            for label, script, live in pages:
                with streamlit_app(
                    tmp,
                    log_name=f"{label}.log",
                    script=script,
                    OPENAI_API_KEY=None,
                    OPENAI_BASE_URL=None,
                ) as url:
                    r = _measure(
                        url,
                        str(PROCESSES[url].pid),
                        label,
                        mic,
                        args.seconds,
                        args.warmup,
                        tmp,
                        live,
                    )
                results[label].append(r)
                print(
                    f"{r['page']:>5}: Chromium {r['chromium_core_pct']:5.1f} % of a core · app "
                    f"process {r['app_core_pct']:5.1f} % · concealed {r['concealed_pct']:.2f} % "
                    f"of {r['received_s']:.0f} s",
                    flush=True,
                )
                print("       " + " · ".join(f"{k} {v:.1f} %" for k, v in r["kinds"].items()))
                if r["received_s"] < 0.5 * args.seconds:
                    raise SystemExit(
                        "A page's call did not carry the voice for the whole window; run again."
                    )
    median = {
        label: float(np.median([r["chromium_core_pct"] for r in rs]))
        for label, rs in results.items()
    }
    if args.runs > 1:
        for label, rs in results.items():
            print(
                f"{label:>5} median of {len(rs)}: Chromium {median[label]:.1f} % · app process "
                f"{np.median([r['app_core_pct'] for r in rs]):.1f} % · concealed "
                f"{np.median([r['concealed_pct'] for r in rs]):.2f} %"
            )
    if len(median) == 2:
        print(f"Talk / echo, Chromium: {median['talk'] / median['echo']:.2f}×")


if __name__ == "__main__":
    main()
