"""The whole product in a real browser: Debian's Chromium (driven by Playwright) with a fake
microphone playing a WAV, the Streamlit app in its own process, and the local Realtime server
in another, reached through the OpenAI backend (``OPENAI_BASE_URL`` + a key)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Frame, Page, sync_playwright

from tests.speech import phrase, silence
from voicelab.audio import WEBRTC_RATE

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = "browser-test-key-not-a-secret"
# Through Chrome's audio processing (echo cancellation, noise suppression, AGC) and Opus,
# PocketSphinx gets "what is the weather like …" mostly right and often misses the rest
# ("whether", "to do"), so two of the phrase's words count as heard.
WEATHER = "what is the weather like in london today"
WEATHER_WORDS = {"what", "weather", "like", "london", "today"}
NOISE_DBFS = -50.0
IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'

pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(WEBRTC_RATE)
        w.writeframes(samples.astype(np.int16).tobytes())


@pytest.fixture(scope="module")
def realtime_server() -> Iterator[str]:
    """``voicelab serve-local`` in its own process, as a user would run it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicelab", "serve-local", "--port", "0", "--api-key", KEY,
         "--exit-after", "600"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = re.search(r"http://\S+/v1", line)
    assert url, f"server printed {line!r}"
    yield url.group(0)
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def app(realtime_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": realtime_server,
        "HOME": str(tmp_path_factory.mktemp("home")),  # no stray ~/.streamlit settings
    }
    for name in ("CLOUDFLARE_TURN_KEY_ID", "TWILIO_ACCOUNT_SID", "HF_TOKEN"):
        env.pop(name, None)
    log = (tmp_path_factory.mktemp("app") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("the app did not come up; see " + log.name)
    yield url
    proc.terminate()
    proc.wait(15)
    log.close()
    assert "Traceback" not in Path(log.name).read_text(), Path(log.name).read_text()[-3000:]


@pytest.fixture
def page(app: str, tmp_path: Path) -> Iterator[Page]:
    wav = tmp_path / "mic.wav"
    # >= 1 s of leading silence: Chrome starts the file at getUserMedia, before media flows.
    speech = np.concatenate([silence(2.5), phrase(WEATHER, lead_s=0.0), silence(20.0)])
    # A real microphone never sends digital zero; Chrome's noise suppression and gain
    # control settle on a noise floor before the speech starts, as they would in a room.
    floor = np.random.default_rng(7).normal(0, 32768 * 10 ** (NOISE_DBFS / 20), len(speech))
    write_wav(wav, np.clip(speech + floor, -32768, 32767))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}%noloop",
                "--autoplay-policy=no-user-gesture-required",
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync",
            ],
        )  # fmt: skip
        context = browser.new_context(permissions=["microphone"])
        pg = context.new_page()
        pg.goto(app)
        yield pg
        browser.close()


def component_frame(page: Page) -> Frame:
    page.wait_for_selector(IFRAME, timeout=60_000)
    handle = page.query_selector(IFRAME)
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


LEVEL_METER = """
() => {
  const audio = document.querySelector('audio');
  if (!audio || !audio.srcObject) return false;
  if (window.__vlMeter) return true;
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(audio.srcObject);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  src.connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  window.__vlMeter = {max: 0, loud: 0};
  setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    const rms = Math.sqrt(sum / buf.length);
    window.__vlMeter.max = Math.max(window.__vlMeter.max, rms);
    if (rms > 0.01) window.__vlMeter.loud += 1;
  }, 20);
  return true;
}
"""


def wait_text(page: Page, selector: str, check, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        loc = page.locator(selector)
        text = loc.inner_text() if loc.count() else ""
        if check(text):
            return text
        time.sleep(0.25)
    raise AssertionError(f"{selector} never matched; last text: {text!r}")


def heard_the_phrase(text: str) -> bool:
    return len(set(re.findall(r"[a-z]+", text.lower())) & WEATHER_WORDS) >= 2


def open_calls(server_url: str) -> list:
    response = httpx.get(
        f"{server_url}/realtime/calls", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    return response.json()["data"]


def test_talk_in_the_browser_hear_the_reply_and_hang_up(page: Page, realtime_server: str):
    frame = component_frame(page)
    started = time.monotonic()
    frame.get_by_role("button", name="Start").click()
    badge = wait_text(page, "[data-testid='stMain']", lambda t: "Connected" in t, 30)
    connect_s = time.monotonic() - started
    session_ms = re.search(r"session in (\d+) ms", badge)
    assert session_ms, badge
    assert len(open_calls(realtime_server)) == 1

    deadline = time.monotonic() + 20
    while not frame.evaluate(LEVEL_METER):
        assert time.monotonic() < deadline, "no <audio> with a stream in the component"
        time.sleep(0.2)

    you = wait_text(page, ".st-key-panel-you", heard_the_phrase, 45)
    # The local responder quotes what it heard, so its reply carries the same words.
    assistant = wait_text(page, ".st-key-panel-assistant", heard_the_phrase, 30)
    time.sleep(2.0)
    meter = frame.evaluate("() => window.__vlMeter")
    assert meter["max"] > 0.02 and meter["loud"] > 25, meter  # > 0.5 s of audible reply
    print(f"\nStart→Connected on the page {connect_s:.2f}s; bridge Start→session.created "
          f"{session_ms.group(1)} ms; you={you!r}; "
          f"assistant={assistant[:80]!r}; meter={meter}")  # fmt: skip

    frame.get_by_role("button", name="Stop").click()
    deadline = time.monotonic() + 15
    while open_calls(realtime_server):
        assert time.monotonic() < deadline, "the upstream call was not hung up after Stop"
        time.sleep(0.2)
    assert "Traceback" not in page.locator("body").inner_text()
