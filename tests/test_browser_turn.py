"""The browser leg through the host's own TURN server: Debian's coturn with a shared secret,
the app minting each visitor's time-limited credentials from ``[turn]`` in its secrets, and
Chromium told to use relayed candidates only. The call is heard both ways, the Connection
panel says the browser leg is relayed, coturn logs the allocation and the secret is in
neither the page nor the app's log."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tests.conftest import local_server_process
from tests.speech import WEATHER, phrase, silence
from tests.test_browser import (
    KEY,
    LEVEL_METER,
    MAIN,
    MODEL,
    YOU,
    browser_page,
    component_frame,
    connected,
    heard_the_phrase,
    streamlit_app,
    wait_text,
)
from tests.test_browser_pages import go
from tests.turn import turn_server

SECRET = "shared-secret-of-the-test-turn-server"


@contextlib.contextmanager
def relayed_app(tmp: Path, turn_url: str, upstream: str, ttl_s: int) -> Iterator[str]:
    """The app with ``[turn]`` pointing at the test's coturn, relayed candidates only."""
    (tmp / ".streamlit").mkdir()
    (tmp / ".streamlit" / "secrets.toml").write_text(
        f'[turn]\nurls = ["{turn_url}"]\nsecret = "{SECRET}"\nttl_s = {ttl_s}\nrelay_only = true\n'
    )
    with streamlit_app(tmp, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=upstream) as url:
        yield url


def test_a_call_relayed_through_the_hosts_coturn_is_heard_both_ways(tmp_path: Path):
    mic = np.concatenate([phrase(WEATHER, lead_s=3.0), silence(30.0)])
    with turn_server(SECRET) as (turn_url, turn_log), local_server_process(KEY) as upstream:
        with (
            relayed_app(tmp_path, turn_url, upstream, ttl_s=600) as url,
            browser_page(url, tmp_path / "mic.wav", mic) as page,
        ):
            frame = component_frame(page)
            frame.get_by_role("button", name="Start").click()
            wait_text(page, MAIN, connected, 45)
            wait_text(page, YOU, heard_the_phrase, 45)  # the microphone reached the model
            wait_text(page, MODEL, lambda t: len(t.split()) > 3, 30)
            deadline = time.monotonic() + 20
            while not frame.evaluate(LEVEL_METER):  # … and its voice reached the page
                assert time.monotonic() < deadline, "no audio heard at the page"
                time.sleep(0.25)

            page.get_by_text("Connection", exact=True).click()
            page.get_by_role("button", name="Check the connection").click()
            # the page streams the lines as they are measured: wait for both
            checked = wait_text(
                page, MAIN, lambda t: "Browser leg:" in t and "Upstream leg:" in t, 20
            )
            print(f"\n{checked[checked.index('Browser leg:') :][:300]}")
            assert "Browser leg: relayed through TURN" in checked, checked
            assert "Upstream leg: direct" in checked, checked
            # the RTCP figures of both server-side peers: what each received, and lost
            assert checked.count(" packets lost (") == 2, checked
            frame.get_by_role("button", name="Stop").click()
            go(page, "Events")
            assert SECRET not in page.content()
        log = (tmp_path / "streamlit.log").read_text()
        assert SECRET not in log and "Traceback" not in log
        allocations = turn_log.read_text()
        assert "ALLOCATE" in allocations and "success" in allocations.lower(), allocations[-2000:]


def test_a_page_whose_turn_credential_expired_is_told_and_the_next_start_works(tmp_path: Path):
    ttl_s = 8
    with turn_server(SECRET) as (turn_url, _log), local_server_process(KEY) as upstream:
        with (
            relayed_app(tmp_path, turn_url, upstream, ttl_s) as url,
            browser_page(url, tmp_path / "quiet.wav", silence(60.0), loop=True) as page,
        ):
            frame = component_frame(page)
            time.sleep(ttl_s + 1)  # the page sits there: nothing reruns it
            frame.get_by_role("button", name="Start").click()
            wait_text(page, MAIN, lambda t: "pass for the relay server has expired" in t, 20)
            frame.get_by_role("button", name="Stop").click()
            frame.get_by_role("button", name="Start").click()  # with the pass minted since
            wait_text(page, MAIN, connected, 45)
            frame.get_by_role("button", name="Stop").click()
        assert "Traceback" not in (tmp_path / "streamlit.log").read_text()
