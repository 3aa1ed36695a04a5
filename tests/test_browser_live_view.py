"""The live view in a real browser: the meters, the VAD timeline and the newest turns drawn
from the call's JSON feed, and the feed's route on its own: one visitor's token reads only
that visitor's call, a wrong token or a bad query gets one sentence. Same parts as
``test_browser``: Debian's Chromium, the app and the local Realtime server in their own
processes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.speech import phrase, silence
from tests.test_browser import (
    CHROMIUM,
    MAIN,
    WEATHER,
    YOU,
    app,  # noqa: F401  (a fixture, used by name)
    browser_page,
    component_frame,
    heard_the_phrase,
    offline_app,  # noqa: F401
    realtime_server,  # noqa: F401
    start,
    wait_text,
)

pytestmark = pytest.mark.timeout(240)

MIC = np.concatenate([silence(2.5), phrase(WEATHER, lead_s=0.0), silence(40.0)])

METERS = """() => {
  const root = document.querySelector('.vl-live.vl-meters');
  if (!root) return null;
  const [you, model] = [...root.querySelectorAll('.vl-meter')].map(m => Number(m.dataset.dbfs));
  return {spans: Number(root.dataset.speechSpans || 0), threshold: root.dataset.threshold,
          you, model, labels: root.querySelector('.vl-meters').innerText};
}"""

FEED_URLS = "() => [...(window.__voicelabFeeds || new Map()).keys()]"


@pytest.fixture
def page(app: str, tmp_path: Path) -> Iterator[Page]:
    with browser_page(app, tmp_path / "mic.wav", MIC) as pg:
        yield pg


def feed_url(page: Page) -> str:
    deadline = time.monotonic() + 30
    while not (urls := page.evaluate(FEED_URLS)):
        assert time.monotonic() < deadline, "the page never started reading its feed"
        time.sleep(0.2)
    assert len(urls) == 1, urls  # one poller, shared by every view on the page
    return urls[0]


def test_the_meters_timeline_and_newest_turns_move_with_the_call(page: Page):
    start(page)
    you_levels: set[float] = set()
    deadline = time.monotonic() + 45
    while True:
        meters = page.evaluate(METERS)
        assert meters is not None, "the meters are not on the page"
        you_levels.add(meters["you"])
        if meters["spans"] >= 1 and len(you_levels) >= 5:
            break
        assert time.monotonic() < deadline, f"no speech span on the timeline: {meters}"
        page.wait_for_timeout(250)
    assert max(you_levels) > -50, you_levels  # the phrase, above the room's floor
    assert min(you_levels) < max(you_levels) - 10, you_levels  # and quieter between
    assert "dBFS" in meters["labels"] or "silent" in meters["labels"], meters
    # The turns so far are drawn by the live view, with the keys the page's own turns use.
    said = wait_text(page, YOU, heard_the_phrase, 45)
    live_turns = page.locator(".vl-live.vl-turns [class*='st-key-turn-user']")
    assert live_turns.count() >= 1 and said.strip(), said
    canvas = page.locator("canvas.vl-timeline").bounding_box()
    assert canvas is not None and canvas["width"] > 200 and canvas["height"] > 100, canvas


def test_the_feed_answers_only_its_own_visitor(page: Page, app: str):
    start(page)
    mine = feed_url(page)
    base = f"{urlparse(app).scheme}://{urlparse(app).netloc}"
    with httpx.Client(base_url=base, timeout=10) as http:
        deadline = time.monotonic() + 20
        while not (reading := http.get(mine).json())["active"]:
            assert time.monotonic() < deadline, reading
            time.sleep(0.3)
        assert reading["state"]["words"] in {"Listening", "You are speaking", "Thinking"}
        assert set(reading["versions"]) == {"settled", "figures", "live"}
        # A second visitor of the same app: another token, and no call in it.
        other = page.context.browser.new_context(permissions=["microphone"])
        visitor = other.new_page()
        visitor.goto(app)
        theirs = feed_url(visitor)
        assert theirs != mine
        them = http.get(theirs).json()
        assert not them["active"] and them["meters"] is None, them
        assert http.get(mine).json()["active"]  # theirs did not replace mine
        other.close()
        wrong = http.get(mine[:-4] + "xxxx")
        assert wrong.status_code == 404 and wrong.json() == {
            "error": "This call's page has expired; reload it."
        }
        bad = http.get(mine, params={"from": "two"})
        assert bad.status_code == 400 and "whole number" in bad.json()["error"]
        turns = http.get(mine, params={"from": 10_000}).json()["turns"]
        assert turns == []  # none after the ones the page has drawn


def test_the_threshold_line_follows_the_slider(offline_app: str, tmp_path: Path):
    with browser_page(offline_app, tmp_path / "quiet.wav", silence(60.0)) as pg:
        start(pg)
        deadline = time.monotonic() + 20
        while not (before := (pg.evaluate(METERS) or {}).get("threshold")):
            assert time.monotonic() < deadline, "the timeline shows no threshold line"
            time.sleep(0.25)
        thumb = pg.locator("input[type='range'][aria-label='Threshold']")
        thumb.focus()
        for _ in range(4):
            thumb.press("ArrowRight")
        deadline = time.monotonic() + 20
        while (after := pg.evaluate(METERS)["threshold"]) == before:
            assert time.monotonic() < deadline, f"the threshold line stayed at {before}"
            time.sleep(0.25)
        assert float(after) > float(before), (before, after)  # a higher bar for speech
        assert "Traceback" not in pg.locator(MAIN).inner_text()


@contextlib.contextmanager
def browser_without(app: str, args: list[str], permissions: list[str]) -> Iterator[Page]:
    """Chromium as a visitor's may be: no microphone allowed, or none plugged in."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", *args],
        )
        page = browser.new_context(permissions=permissions).new_page()
        page.goto(app)
        yield page
        browser.close()


@pytest.mark.parametrize(
    ("args", "permissions", "sentence"),
    [
        (["--use-fake-device-for-media-stream"], [], "The browser blocked the microphone."),
        (["--use-fake-ui-for-media-stream"], ["microphone"], "No microphone was found."),
    ],
    ids=["permission-denied", "no-microphone"],
)
def test_a_microphone_the_browser_cannot_open_is_said_in_the_status_area(
    app: str,
    args: list[str],
    permissions: list[str],
    sentence: str,
):
    with browser_without(app, args, permissions) as pg:
        frame = component_frame(pg)
        frame.get_by_role("button", name="Start").click()
        bar = wait_text(pg, ".st-key-call-bar", lambda t: sentence in t, 20)
        assert "Could not start" in bar, bar  # the state agrees with the sentence
        assert "Idle" not in bar and "Error:" not in bar, bar
        raw = frame.locator(".MuiAlert-colorError")
        assert raw.count() == 0 or not raw.first.is_visible()  # not the browser's own words
