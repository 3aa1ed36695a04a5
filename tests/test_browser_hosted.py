"""Hosted mode through the real app in Chromium: the passcode gate, the deployment-wide limit,
limits that hold across a reload, and the visitors-only key policy. Each app gets its
``[hosted]`` section from ``~/.streamlit/secrets.toml`` (its HOME is the test's folder), and
its ledger lives beside its history there."""

from __future__ import annotations

import contextlib
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Page

from tests.conftest import key_shaped, local_server_process
from tests.speech import silence
from tests.test_browser import (
    IFRAME,
    KEEP_PEERS,
    KEY,
    MAIN,
    MODEL,
    SIDEBAR,
    browser_page,
    component_frame,
    connected,
    streamlit_app,
    type_message,
    wait_text,
)
from tests.test_browser_pages import go

PASSCODE = "correct horse battery"


@contextlib.contextmanager
def hosted_app(tmp: Path, hosted: str, **env: str | None) -> Iterator[str]:
    (tmp / ".streamlit").mkdir(parents=True, exist_ok=True)
    (tmp / ".streamlit" / "secrets.toml").write_text(f"[hosted]\n{hosted}\n")
    with streamlit_app(tmp, **env) as url:
        yield url


def enter(page: Page, passcode: str) -> None:
    field = page.locator("input[aria-label='Passcode']")
    field.wait_for(state="visible", timeout=60_000)
    field.fill(passcode)
    page.get_by_role("button", name="Enter").click()


def press(page: Page, button: str) -> None:
    component_frame(page).get_by_role("button", name=button).click()


def open_first_call(page: Page) -> None:
    """History, with its newest call opened."""
    go(page, "History")
    wait_text(page, MAIN, lambda t: "Pick one call" in t, 20)
    box = page.locator("[data-testid='stDataFrame']").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + 36 + 17)  # the first row's checkbox
    wait_text(page, MAIN, lambda t: "Export zip" in t, 20)


def downloads(page: Page) -> bytes:
    """What a visitor can take away of the call that just ended: its events as JSONL (the
    Events page) and its export zip, unpacked (History)."""
    go(page, "Events")
    wait_text(page, MAIN, lambda t: re.search(r"[1-9]\d* of \d+ events", t), 20)
    with page.expect_download(timeout=20_000) as events:
        page.get_by_role("button", name="Download JSONL").click()
    taken = Path(events.value.path()).read_bytes()
    assert b"session.created" in taken
    open_first_call(page)
    with page.expect_download(timeout=20_000) as export:
        page.get_by_role("button", name="Export zip").click()
    with zipfile.ZipFile(export.value.path()) as archive:
        names = archive.namelist()
        assert "events.jsonl" in names and "transcript.json" in names, names
        taken += b"".join(archive.read(name) for name in names)
    go(page, "Talk")
    return taken


def only_the_gate(page: Page) -> None:
    """No call widget and no session settings: nothing drawn past the gate."""
    time.sleep(1.0)  # a page that went on drawing would have drawn by now
    assert page.locator(IFRAME).count() == 0
    assert page.locator(SIDEBAR).count() == 0 or "Session" not in page.locator(SIDEBAR).inner_text()


def no_traceback(page: Page, log: Path) -> None:
    assert "Traceback" not in page.locator("body").inner_text()
    assert "Traceback" not in log.read_text()


def test_the_gate_the_busy_limit_and_a_spend_limit_that_holds_after_a_reload(tmp_path: Path):
    hosted = f'passcode = "{PASSCODE}"\ncalls_at_once = 1\nspend_per_day_usd = 0.0001'
    with (
        local_server_process(KEY) as server,
        hosted_app(tmp_path, hosted, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server) as url,
        browser_page(url, tmp_path / "quiet.wav", silence(120.0), loop=True) as page,
    ):
        # Without the passcode: the gate and nothing else.
        page.locator("input[aria-label='Passcode']").wait_for(timeout=60_000)
        only_the_gate(page)
        enter(page, "horse battery staple")
        wait_text(page, MAIN, lambda t: "That passcode is not right." in t, 15)
        assert page.locator(IFRAME).count() == 0

        enter(page, PASSCODE)
        press(page, "Start")
        wait_text(page, MAIN, connected, 30)

        # A second visitor while the one call the demo allows is going on.
        other = page.context.browser.new_context(permissions=["microphone"])
        other.add_init_script(KEEP_PEERS)
        second = other.new_page()
        second.goto(url)
        enter(second, PASSCODE)
        press(second, "Start")
        wait_text(
            second,
            MAIN,
            lambda t: (
                "The demo is busy: 1 call is going on, its limit. Try again in a few minutes." in t
            ),
            30,
        )
        press(second, "Stop")

        # The first answer costs more than the day's allowance: the call ends after it.
        type_message(page, "tell me about the ocean")
        wait_text(page, MODEL, lambda t: "ocean" in t.lower(), 30)
        wait_text(
            page,
            MAIN,
            lambda t: "You reached today's $0.0001 on this demo, so the call was ended" in t,
            30,
        )
        assert "ocean" in page.locator(MODEL).inner_text().lower()  # the answer is kept
        press(page, "Stop")

        # A reload is a new session: the gate again, and the day's spend is still spent.
        page.reload()
        enter(page, PASSCODE)
        press(page, "Start")
        wait_text(page, MAIN, lambda t: "You have used today's $0.0001 of this demo" in t, 30)
        press(page, "Stop")
        no_traceback(page, tmp_path / "streamlit.log")
        other.close()


def test_visitors_own_keys_only_and_daily_minutes_that_hold_after_a_reload(tmp_path: Path):
    visitors_key = key_shaped("visitor0typed0in0the0sidebar")
    hosts_key = key_shaped("host0key0that0must0never0be0used")
    hosted = 'keys = "visitor"\nallow_local = false\nminutes_per_day = 0.25'
    with (
        local_server_process(visitors_key) as server,  # it refuses the host's key
        hosted_app(tmp_path, hosted, OPENAI_API_KEY=hosts_key, OPENAI_BASE_URL=server) as url,
        browser_page(url, tmp_path / "quiet.wav", silence(120.0), loop=True) as page,
    ):
        component_frame(page)
        sidebar = page.locator(SIDEBAR).inner_text()
        assert "Local (offline)" not in sidebar and "this demo asks for your own" in sidebar
        press(page, "Start")
        wait_text(
            page,
            MAIN,
            lambda t: "Type your OpenAI API key in the sidebar: this demo uses your own." in t,
            30,
        )
        press(page, "Stop")

        def type_key() -> None:
            key_field = page.locator("input[aria-label='OpenAI API key']")
            key_field.fill(visitors_key)
            key_field.press("Enter")
            wait_text(page, SIDEBAR, lambda t: "Key: typed in this session" in t, 15)

        type_key()
        started = time.monotonic()
        press(page, "Start")
        wait_text(page, MAIN, connected, 30)  # the server takes only the visitor's key
        ended = wait_text(
            page,
            MAIN,
            lambda t: (
                "You reached today's 0.25 call minutes on this demo, so the call was ended" in t
            ),
            40,
        )
        assert time.monotonic() - started >= 15.0, ended
        press(page, "Stop")
        exported = downloads(page)
        for key in (visitors_key, hosts_key):
            assert key.encode() not in exported

        page.reload()
        component_frame(page)
        type_key()
        press(page, "Start")
        wait_text(
            page,
            MAIN,
            lambda t: "You have used today's 0.25 call minutes on this demo" in t,
            30,
        )
        press(page, "Stop")

        # Neither key is anywhere a visitor or a host's files could show it.
        log = tmp_path / "streamlit.log"
        no_traceback(page, log)
        stored = b"".join(f.read_bytes() for f in (tmp_path / "data").rglob("*") if f.is_file())
        page_html = page.content()
        # the one copy in the page is the field the visitor typed it into
        assert page.locator("input[aria-label='OpenAI API key']").input_value() == visitors_key
        assert page_html.count(visitors_key) == 1 and hosts_key not in page_html
        for key in (visitors_key, hosts_key):
            assert key not in page.locator("body").inner_text()
            assert key not in log.read_text()
            assert key.encode() not in stored
