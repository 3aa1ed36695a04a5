"""The whole product in a real browser: Debian's Chromium (driven by Playwright) with a fake
microphone playing a WAV, the Streamlit app in its own process, and the local Realtime server
in another, reached through the OpenAI backend (``OPENAI_BASE_URL`` + a key)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
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

from tests.conftest import local_server_process
from tests.processes import free_port
from tests.speech import phrase, silence
from voicelab.media.frames import WEBRTC_RATE

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = "browser-test-key-not-a-secret"
# Through Chrome's audio processing (echo cancellation, noise suppression, AGC) and Opus,
# PocketSphinx gets "what is the weather like …" mostly right and often misses the rest, or
# hears a word that sounds the same ("whether", "likely", "to do"). Two of the phrase's words,
# by sound, count as heard.
WEATHER = "what is the weather like in london today"
SOUNDS = {
    "what": "what", "weather": "weather", "whether": "weather", "like": "like",
    "likely": "like", "london": "london", "today": "today",
}  # fmt: skip
NOISE_DBFS = -50.0
IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'

pytestmark = pytest.mark.timeout(240)


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(WEBRTC_RATE)
        w.writeframes(samples.astype(np.int16).tobytes())


@pytest.fixture(scope="module")
def realtime_server() -> Iterator[str]:
    """``voicelab serve-local`` in its own process, as a user would run it."""
    with local_server_process(KEY) as url:
        yield url


#: The app process behind each running app's URL (a test may kill one).
PROCESSES: dict[str, subprocess.Popen] = {}


@contextlib.contextmanager
def streamlit_app(
    tmp: Path,
    log_name: str = "streamlit.log",
    script: str = "app.py",
    entrypoint: Path | None = None,
    **env_changes: str | None,
) -> Iterator[str]:
    """``streamlit run app.py`` in its own process on a free port, its history kept in
    ``tmp``; no traceback may appear in its log. ``entrypoint``: a deployment's start
    script instead (``deploy/serve``), given the port and address in PORT and ADDRESS."""
    port = free_port()
    # no stray ~/.streamlit settings; the history in the test's own directory
    env = {**os.environ, "HOME": str(tmp), "VOICELAB_DATA_DIR": str(tmp / "data")}
    for name in ("CLOUDFLARE_TURN_KEY_ID", "TWILIO_ACCOUNT_SID", "HF_TOKEN"):
        env.pop(name, None)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    log_path = tmp / log_name
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    if entrypoint is not None:
        command = [str(entrypoint)]
        env.update(PORT=str(port), ADDRESS="127.0.0.1", PYTHON=sys.executable)
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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
            pytest.fail(f"the app did not come up; see {log_path}")
        PROCESSES[url] = proc
        try:
            yield url
        finally:
            PROCESSES.pop(url, None)
            proc.terminate()
            proc.wait(15)
    text = log_path.read_text()
    assert "Traceback" not in text, text[-3000:]


@pytest.fixture(scope="module")
def app(realtime_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with an OpenAI key, its OpenAI backend pointed at the local server."""
    with streamlit_app(
        tmp_path_factory.mktemp("app"), OPENAI_API_KEY=KEY, OPENAI_BASE_URL=realtime_server
    ) as url:
        yield url


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a fresh machine: no key anywhere."""
    with streamlit_app(
        tmp_path_factory.mktemp("offline"), OPENAI_API_KEY=None, OPENAI_BASE_URL=None
    ) as url:
        yield url


@contextlib.contextmanager
def browser_page(app: str, wav: Path, mic: np.ndarray, loop: bool = False) -> Iterator[Page]:
    """Headless Debian Chromium whose microphone plays ``mic`` once (or over and over)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("The browser test needs Debian's chromium: apt-get install chromium")
    # A real microphone never sends digital zero; Chrome's noise suppression and gain
    # control settle on a noise floor before the speech starts, as they would in a room.
    floor = np.random.default_rng(7).normal(0, 32768 * 10 ** (NOISE_DBFS / 20), len(mic))
    write_wav(wav, np.clip(mic + floor, -32768, 32767))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}{'' if loop else '%noloop'}",
                "--autoplay-policy=no-user-gesture-required",
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync",
            ],
        )  # fmt: skip
        context = browser.new_context(permissions=["microphone"])
        context.add_init_script(KEEP_PEERS)
        pg = context.new_page()
        pg.goto(app)
        yield pg
        browser.close()


@pytest.fixture
def page(app: str, tmp_path: Path) -> Iterator[Page]:
    """The microphone says the phrase once, >= 1 s in: Chrome starts the file at
    getUserMedia, before media flows."""
    mic = np.concatenate([silence(2.5), phrase(WEATHER, lead_s=0.0), silence(20.0)])
    with browser_page(app, tmp_path / "mic.wav", mic) as pg:
        yield pg


@pytest.fixture
def quiet_page(app: str, tmp_path: Path) -> Iterator[Page]:
    """A microphone in a quiet room: only the noise floor."""
    with browser_page(app, tmp_path / "quiet.wav", silence(60.0)) as pg:
        yield pg


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
  window.__vlCtx = ctx;
  window.__vlStream = audio.srcObject;
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

#: Every RTCPeerConnection the page makes, so a test can read what the browser received.
KEEP_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__vlPeers) return;
  window.__vlPeers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__vlPeers.push(this); }
  };
})();
"""

#: What the page's peers have received of the model's voice, summed (inbound-rtp stats), and
#: the state of the <audio> element and the meter's AudioContext, for a failure's message.
INBOUND = """
async () => {
  const out = {packets: 0, samples: 0, concealed: 0, jitterDelay: 0, emitted: 0};
  for (const pc of window.__vlPeers || []) {
    (await pc.getStats()).forEach(s => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      out.packets += s.packetsReceived;
      out.samples += s.totalSamplesReceived;
      out.concealed += s.concealedSamples;
      out.jitterDelay += s.jitterBufferDelay;
      out.emitted += s.jitterBufferEmittedCount;
    });
  }
  const audio = document.querySelector('audio');
  const stream = audio && audio.srcObject;
  out.element = audio && {
    sameStream: stream === window.__vlStream, paused: audio.paused,
    tracks: stream ? stream.getAudioTracks().map(t => [t.readyState, t.muted]) : null};
  out.context = window.__vlCtx ? window.__vlCtx.state : null;
  return out;
}
"""


def wait_text(page: Page, selector: str, check, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = texts(page, selector)
        if check(text):
            return text
        time.sleep(0.25)
    raise AssertionError(
        f"{selector} never matched; last text: {text!r}; page: {page.locator(MAIN).inner_text()[:400]!r}"
    )


def texts(page: Page, selector: str) -> str:
    """The text of everything ``selector`` matches (the turns of one side are many)."""
    return "\n".join(page.locator(selector).all_inner_texts())


#: The conversation's turns, by side (components/conversation.py keys each turn).
YOU = "[class*='st-key-turn-user-']"
MODEL = "[class*='st-key-turn-assistant-']"
#: The call's state line when it is up (components/call_bar.py).
UP = ("Listening", "You are speaking", "Thinking", "Speaking")


def connected(text: str) -> bool:
    return any(words in text for words in UP)


def call_details(page: Page) -> str:
    """The technical line behind the state words (in a closed expander: in the DOM)."""
    return page.locator(".st-key-call-bar").evaluate(
        "bar => { const copy = bar.cloneNode(true);"
        " copy.querySelectorAll('style').forEach(style => style.remove());"
        " return copy.textContent; }"
    )


#: The chat avatars' icon names, part of each turn's text on the page.
AVATARS = {"face", "smart", "toy"}


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower())) - AVATARS


def heard_the_phrase(text: str) -> bool:
    """Speech came through: several words, at least one of the phrase's by sound. (How well
    PocketSphinx hears Chrome-processed audio is not this test's subject; it varies from
    two phrase words to one, e.g. "but is that where they're like you are you to do".)"""
    heard = words_of(text) - {"you"}
    return len(heard) >= 3 and any(w in SOUNDS for w in heard)


def quotes(reply: str, heard: str) -> bool:
    """The local responder's reply quotes what it heard: the voice went both ways."""
    return bool(words_of(heard) - {"you"}) and words_of(heard) - {"you"} <= words_of(reply)


def type_message(page: Page, text: str) -> None:
    box = page.locator("input[aria-label='Type a message into the call']")
    box.wait_for(state="visible", timeout=60_000)
    box.fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def open_calls(server_url: str) -> list:
    response = httpx.get(
        f"{server_url}/realtime/calls", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    return response.json()["data"]


MAIN = "[data-testid='stMain']"
SIDEBAR = "[data-testid='stSidebar']"


def start(page: Page) -> tuple[Frame, str, float]:
    """Press Start; returns the component frame, the page text once connected, and seconds."""
    frame = component_frame(page)
    started = time.monotonic()
    frame.get_by_role("button", name="Start").click()
    wait_text(page, MAIN, connected, 30)
    return frame, call_details(page), time.monotonic() - started


def wait_for_no_calls(server_url: str, within_s: float, what: str) -> float:
    started = time.monotonic()
    while open_calls(server_url):
        assert time.monotonic() - started < within_s, what
        time.sleep(0.2)
    return time.monotonic() - started


def test_talk_in_the_browser_hear_the_reply_and_hang_up(page: Page, realtime_server: str):
    frame, badge, connect_s = start(page)
    session_ms = re.search(r"session in (\d+) ms", badge)
    assert session_ms, badge
    assert len(open_calls(realtime_server)) == 1

    deadline = time.monotonic() + 20
    while not frame.evaluate(LEVEL_METER):
        assert time.monotonic() < deadline, "no <audio> with a stream in the component"
        time.sleep(0.2)

    time.sleep(1.0)  # past the receiver's start-up, which conceals until packets flow
    before = frame.evaluate(INBOUND)
    you = wait_text(page, YOU, heard_the_phrase, 45)
    # The local responder quotes what it heard, so its reply carries the same words.
    assistant = wait_text(page, MODEL, lambda t: quotes(t, texts(page, YOU)), 30)
    time.sleep(2.0)
    meter = frame.evaluate("() => window.__vlMeter")
    after = frame.evaluate(INBOUND)
    # > 0.5 s of audible reply
    assert meter["max"] > 0.02 and meter["loud"] > 25, (meter, after)
    # The voice arrived whole: the receiver made up (concealed) little of what it played.
    # With Streamlit's gc.collect() after every fragment rerun it was 80-86%.
    samples = after["samples"] - before["samples"]
    concealed = (after["concealed"] - before["concealed"]) / max(samples, 1)
    jitter_ms = (after["jitterDelay"] - before["jitterDelay"]) / max(
        after["emitted"] - before["emitted"], 1) * 1000  # fmt: skip
    assert samples > 0 and concealed < 0.1, (before, after)
    print(f"\nStart→Connected on the page {connect_s:.2f}s; bridge Start→session.created "
          f"{session_ms.group(1)} ms; you={you!r}; assistant={assistant[:80]!r}; meter={meter}; "
          f"concealed {concealed:.1%} of {samples / 48000:.1f} s received, "
          f"jitter buffer {jitter_ms:.0f} ms")  # fmt: skip

    frame.get_by_role("button", name="Stop").click()
    wait_for_no_calls(realtime_server, 15, "the upstream call was not hung up after Stop")
    assert "Traceback" not in page.locator("body").inner_text()


def test_closing_the_tab_hangs_up_the_upstream_call(page: Page, realtime_server: str):
    before = {c["id"] for c in open_calls(realtime_server)}
    start(page)
    ours = {c["id"] for c in open_calls(realtime_server)} - before
    assert len(ours) == 1
    page.close()  # no Stop: the visitor just leaves
    started = time.monotonic()
    while ours & {c["id"] for c in open_calls(realtime_server)}:
        assert time.monotonic() - started < 25, "a closed tab left its upstream call open"
        time.sleep(0.2)
    took = time.monotonic() - started
    print(f"\nupstream call hung up {took:.1f} s after the tab closed")


def test_a_refused_key_is_one_sentence_and_the_next_start_works(
    quiet_page: Page, realtime_server: str
):
    page = quiet_page
    frame = component_frame(page)  # the first script run is complete
    key_field = page.locator("input[aria-label='OpenAI API key']")
    key_field.fill("wrong-key-typed-by-the-user")
    key_field.press("Enter")
    sidebar = "[data-testid='stSidebar']"
    wait_text(page, sidebar, lambda t: "Key: typed in this session" in t, 10)
    frame.get_by_role("button", name="Start").click()
    shown = wait_text(page, MAIN, lambda t: "The API key was rejected (401)" in t, 30)
    body = page.locator("body").inner_text()
    assert "wrong-key-typed-by-the-user" not in body and "Traceback" not in body
    assert "Check the key in the sidebar or your secrets." in shown
    frame.get_by_role("button", name="Stop").click()

    key_field.fill("")  # back to the key from the environment
    key_field.press("Enter")
    wait_text(page, sidebar, lambda t: "Key: from the OPENAI_API_KEY environment" in t, 10)
    frame.get_by_role("button", name="Start").click()
    wait_text(page, MAIN, lambda t: connected(t) and "rejected" not in t, 30)
    type_message(page, "tell me about the ocean")
    wait_text(page, YOU, lambda t: "tell me about the ocean" in t, 20)
    wait_text(page, MODEL, lambda t: "ocean" in t.lower(), 20)
    frame.get_by_role("button", name="Stop").click()
    wait_for_no_calls(realtime_server, 15, "the upstream call was not hung up after Stop")


def test_with_no_key_the_app_runs_the_offline_server_itself(offline_app: str, tmp_path: Path):
    with browser_page(offline_app, tmp_path / "quiet.wav", silence(60.0)) as page:
        wait_text(
            page,
            "[data-testid='stSidebar']",
            lambda t: "No key needed" in t and "Local (offline)" in t,
            30,
        )
        frame, _, _ = start(page)
        type_message(page, "hello there")
        wait_text(page, MODEL, lambda t: "hello there" in t.lower(), 20)
        frame.get_by_role("button", name="Stop").click()
        wait_text(page, MAIN, lambda t: "Ended" in t, 15)


def test_a_slider_moved_mid_call_is_applied_without_dropping_the_call(
    quiet_page: Page, realtime_server: str
):
    page = quiet_page
    frame, _, _ = start(page)
    calls = open_calls(realtime_server)
    assert len(calls) == 1
    thumb = page.locator("input[type='range'][aria-label='Threshold']")
    assert float(thumb.input_value()) == 0.5
    thumb.focus()
    for _ in range(3):
        thumb.press("ArrowRight")
    wait_text(page, SIDEBAR, lambda t: "threshold ✓ applied" in t, 20)  # under the controls
    assert connected(page.locator(MAIN).inner_text())
    assert abs(float(thumb.input_value()) - 0.65) < 1e-6
    assert open_calls(realtime_server) == calls, "the call was replaced or dropped"
    frame.get_by_role("button", name="Stop").click()
    wait_for_no_calls(realtime_server, 15, "the upstream call was not hung up after Stop")


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar selectbox labelled ``label``, as a user would: open its
    list (a react-aria combobox in Streamlit 1.67) and click the option."""
    box = page.locator(f"{SIDEBAR} [data-testid='stSelectbox']").filter(has_text=label)
    box.get_by_role("button", name="Open").click()
    page.get_by_role("option", name=option, exact=True).click()
    assert box.get_by_role("combobox").input_value() == option


def test_reconnect_after_a_heard_voice_changes_keeps_the_conversation(
    quiet_page: Page, realtime_server: str
):
    page = quiet_page
    frame, _, _ = start(page)
    (first,) = open_calls(realtime_server)
    type_message(page, "tell me about the ocean")
    wait_text(page, MODEL, lambda t: "ocean" in t.lower(), 20)
    choose(page, "Voice", "shimmer")  # the model has spoken: no update can change it
    wait_text(page, SIDEBAR, lambda t: "voice ↻ needs reconnect" in t, 20)
    page.locator(SIDEBAR).get_by_role("button", name="Reconnect").click()
    wait_text(page, SIDEBAR, lambda t: "Reconnected with the new settings; 2 turns" in t, 20)
    assert "needs reconnect" not in page.locator(SIDEBAR).inner_text()
    deadline = time.monotonic() + 20
    while [c["id"] for c in open_calls(realtime_server)] in ([first["id"]], []):
        assert time.monotonic() < deadline, "no new call after Reconnect"
        time.sleep(0.2)
    time.sleep(1.0)
    assert len(open_calls(realtime_server)) == 1, "the old call was not hung up"
    wait_text(page, MAIN, connected, 30)
    # the transcript survived, and the new call knows the conversation
    assert "tell me about the ocean" in texts(page, YOU)
    type_message(page, "and the sky")
    wait_text(page, MODEL, lambda t: "sky" in t.lower(), 20)
    you = texts(page, YOU)
    assert you.index("tell me about the ocean") < you.index("and the sky")
    frame.get_by_role("button", name="Stop").click()
    wait_for_no_calls(realtime_server, 15, "the upstream call was not hung up after Stop")


def test_after_stop_the_next_start_continues_the_conversation_or_begins_anew(
    quiet_page: Page, realtime_server: str
):
    page = quiet_page
    frame, _, _ = start(page)
    type_message(page, "tell me about the ocean")
    wait_text(page, MODEL, lambda t: "ocean" in t.lower(), 20)
    frame.get_by_role("button", name="Stop").click()
    wait_text(page, MAIN, lambda t: "Next Start" in t, 15)
    choice = page.locator(".st-key-call-next-start")
    picked = choice.get_by_role("radio", name="Continue this conversation")
    assert picked.get_attribute("aria-checked") == "true"  # the default
    start(page)  # the default: continue
    assert "Next Start" not in page.locator(MAIN).inner_text()  # only between calls
    assert "tell me about the ocean" in texts(page, YOU)
    type_message(page, "and the sky")
    you = wait_text(page, YOU, lambda t: "and the sky" in t, 20)
    assert you.index("tell me about the ocean") < you.index("and the sky")
    frame.get_by_role("button", name="Stop").click()
    wait_text(page, MAIN, lambda t: "Next Start" in t, 15)
    page.locator(".st-key-call-next-start").get_by_role("radio", name="New conversation").click()
    time.sleep(1.0)  # the choice reaches the server before Start is pressed
    start(page)
    type_message(page, "hello there")
    wait_text(page, YOU, lambda t: "hello there" in t, 20)
    assert "ocean" not in texts(page, YOU)  # a new conversation: nothing carried
    frame.get_by_role("button", name="Stop").click()
    wait_for_no_calls(realtime_server, 15, "the upstream call was not hung up after Stop")
