"""The pages in a real browser: Talk, Events and History with one call kept up across
them; a turn's latency and cost on the page; the history surviving a reload and a killed
app process. Same parts as ``test_browser``: Debian's Chromium, the app and the local
Realtime server each in their own process."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from playwright.sync_api import Page

from tests.speech import phrase, silence
from tests.test_browser import (
    IFRAME,
    INBOUND,
    KEY,
    MAIN,
    MODEL,
    PROCESSES,
    WEATHER,
    YOU,
    app,  # noqa: F401  (a fixture, used by name)
    browser_page,
    component_frame,
    connected,
    heard_the_phrase,
    realtime_server,  # noqa: F401
    start,
    streamlit_app,
    texts,
    type_message,
    wait_text,
)

pytestmark = pytest.mark.timeout(300)

MIC = np.concatenate([silence(2.5), phrase(WEATHER, lead_s=0.0), silence(40.0)])


@pytest.fixture
def page(app: str, tmp_path: Path) -> Iterator[Page]:
    with browser_page(app, tmp_path / "mic.wav", MIC) as pg:
        yield pg


def go(page: Page, name: str, timeout_s: float = 20.0) -> None:
    """Open a page from the navigation; a click made while the app is still starting can
    be lost, so it is repeated until the page is the one shown."""
    slug = "" if name == "Talk" else name.lower()
    deadline = time.monotonic() + timeout_s
    while True:
        page.get_by_role("link", name=name).click()
        for _ in range(8):
            if urlparse(page.url).path.strip("/") == slug:
                return
            time.sleep(0.25)
        assert time.monotonic() < deadline, f"{name} never opened (at {page.url})"


def turn_order(page: Page) -> list[str]:
    """The sides of the conversation's turns, top to bottom."""
    return page.evaluate(
        """() => [...document.querySelectorAll("[class*='st-key-turn-']")]
             .map(e => [...e.classList].find(c => c.startsWith('st-key-turn-')).split('-')[3])"""
    )


def grid_text(page: Page, check=bool, timeout_s: float = 20.0) -> str:
    """The cells of the page's table (drawn on a canvas, mirrored for accessibility)."""
    cells = page.locator("[data-testid='stDataFrame'] [role='gridcell']")
    deadline = time.monotonic() + timeout_s
    while not check(text := " ".join(cells.all_inner_texts())):
        assert time.monotonic() < deadline, f"the table never matched: {text[:300]!r}"
        time.sleep(0.25)
    return text


def test_one_call_lives_through_every_page_and_its_turn_shows_latency_and_cost(page: Page):
    frame = component_frame(page)
    placeholder = frame.locator('svg[data-testid="VideoLabelIcon"]')
    deadline = time.monotonic() + 10
    while placeholder.count() and placeholder.first.is_visible():  # hidden once styled
        assert time.monotonic() < deadline, "the video placeholder is still shown"
        time.sleep(0.2)
    start(page)
    wait_text(page, YOU, heard_the_phrase, 45)
    cost = re.compile(r"voice to voice \d+ ms · \d+ tokens · \$\d+\.\d{4} \(est\.\)")
    wait_text(page, MODEL, cost.search, 30)
    order = turn_order(page)
    assert order[:2] == ["user", "assistant"], order

    page.evaluate(f"() => {{ document.querySelector('{IFRAME}').__mark = 'same'; }}")
    before, left_at = frame.evaluate(INBOUND)["packets"], time.monotonic()
    go(page, "Events")
    wait_text(page, MAIN, lambda t: re.search(r"\d+ of \d+ events", t), 20)
    grid_text(page, lambda t: "response.done" in t and "received" in t)
    with page.expect_download(timeout=20_000) as download:
        page.get_by_role("button", name="Download JSONL").click()
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    kinds = {line["event"]["type"] for line in lines}
    assert {"session.created", "response.done"} <= kinds, kinds
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)
    go(page, "History")
    wait_text(page, MAIN, lambda t: "Pick one call" in t, 20)
    grid_text(page, lambda t: "gpt-realtime" in t and "openai" in t)
    go(page, "Talk")
    wait_text(page, MAIN, connected, 20)
    time.sleep(1.0)
    assert page.evaluate(f"() => document.querySelector('{IFRAME}').__mark") == "same"
    states = frame.evaluate("() => (window.__vlPeers || []).map(p => p.connectionState)")
    assert states == ["connected"], states
    after, away_s = frame.evaluate(INBOUND)["packets"], time.monotonic() - left_at
    print(f"\nvoice packets received over {away_s:.1f} s on other pages: {after - before}")
    assert after - before >= 0.9 * 50 * away_s  # the voice went on: 50 packets a second
    assert texts(page, YOU)  # the conversation is still there
    assert "Traceback" not in page.locator("body").inner_text()


def test_history_keeps_a_call_through_a_reload_and_a_killed_app(
    realtime_server: str, tmp_path: Path
):
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": realtime_server}
    with streamlit_app(tmp_path, **env) as url, browser_page(url, tmp_path / "mic.wav", MIC) as pg:
        start(pg)
        said = wait_text(pg, YOU, heard_the_phrase, 45)
        wait_text(pg, MODEL, lambda t: "voice to voice" in t, 30)
        pg.reload()  # the page goes; the call it had is kept
        go(pg, "History")
        wait_text(pg, MAIN, lambda t: "Pick one call" in t, 20)
        grid_text(pg, lambda t: "gpt-realtime" in t)
        # A second call, and the app process killed (SIGKILL) in the middle of it.
        go(pg, "Talk")
        start(pg)
        type_message(pg, "tell me about the ocean")
        wait_text(pg, YOU, lambda t: "tell me about the ocean" in t, 20)
        time.sleep(1.5)  # the history's writer commits every 0.5 s: "at most the last second"
        PROCESSES[url].send_signal(signal.SIGKILL)
        PROCESSES[url].wait(10)
    with (
        streamlit_app(tmp_path, log_name="restarted.log", **env) as url,
        browser_page(url, tmp_path / "quiet.wav", silence(20.0)) as pg,
    ):
        component_frame(pg)  # the restarted app has drawn its first page
        go(pg, "History")
        wait_text(pg, MAIN, lambda t: "Pick one call" in t, 30)
        grid = pg.locator("[data-testid='stDataFrame']")
        box = grid.bounding_box()
        assert box is not None
        pg.mouse.click(box["x"] + 16, box["y"] + 36 + 17)  # the first row's checkbox
        opened = wait_text(pg, MAIN, lambda t: "Export zip" in t, 20)
        assert "tell me about the ocean" in opened, opened[:600]  # the killed call's turns
        # and the first call, from before the reload, with what the user said in it
        pg.mouse.click(box["x"] + 16, box["y"] + 36 + 17)  # unpick the first row
        pg.mouse.click(box["x"] + 16, box["y"] + 36 + 35 + 17)  # pick the second
        opened = wait_text(pg, MAIN, lambda t: "Export zip" in t and "ocean" not in t, 20)
        words = set(re.findall(r"[a-z]+", said.lower())) - {"you"}
        assert words & set(re.findall(r"[a-z]+", opened.lower())), (said, opened[:500])
