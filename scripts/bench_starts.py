"""How reliable is Start? Runs the real app (offline backend, in-process local server) in
headless Debian Chromium with a fake microphone and presses Start/Stop many times in one
page, counting Starts that reach "Connected" *and* deliver microphone frames to the bridge
(a "dead Start" connects ICE but delivers none; see components/patches.py and
docs/performance.md).

    python scripts/bench_starts.py --starts 20
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.test_browser import CHROMIUM, IFRAME, MAIN, free_port, write_wav  # noqa: E402


def main(starts: int) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "room.wav"
        noise = np.random.default_rng(1).normal(0, 100, 48_000 * 600)
        write_wav(wav, noise.astype(np.int16))
        app = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/_stcore/health").text == "ok":
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            run(f"http://127.0.0.1:{port}", wav, starts)
        finally:
            app.terminate()
            app.wait(15)


def run(url: str, wav: Path, starts: int) -> None:
    ok, dead, failed, times = 0, 0, 0, []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )  # fmt: skip
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector(IFRAME, timeout=60_000)
        frame = page.frame_locator(IFRAME)
        for n in range(starts):
            started = time.monotonic()
            frame.get_by_role("button", name="Start").click()
            frames, connected_at = 0, None
            while time.monotonic() - started < 15:
                text = page.locator(MAIN).inner_text()
                match = re.search(r"mic frames (\d+)", text)
                if "Connected" in text and connected_at is None:
                    connected_at = time.monotonic() - started
                if match:
                    frames = int(match.group(1))
                if frames > 50:
                    break
                time.sleep(0.2)
            if connected_at is None:
                failed += 1
                verdict = "never connected"
            elif frames <= 50:
                dead += 1
                verdict = f"DEAD: connected, {frames} mic frames"
            else:
                ok += 1
                times.append(connected_at)
                verdict = f"ok: Connected after {connected_at:.2f} s, {frames} mic frames"
            print(f"start {n + 1:2d}: {verdict}", flush=True)
            frame.get_by_role("button", name="Stop").click()
            time.sleep(1.0)
        browser.close()
    print(
        f"\n{ok}/{starts} Starts delivered audio; {dead} dead, {failed} never connected. "
        + (
            f"Start → Connected on the page: median {statistics.median(times):.2f} s, "
            f"max {max(times):.2f} s"
            if times
            else ""
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=20)
    main(parser.parse_args().starts)
