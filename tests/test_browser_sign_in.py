"""A hosted demo behind sign-in, through the real app in Chromium: Streamlit's own
``st.login`` runs its whole OpenID Connect flow against a real provider on loopback
(``tests/oidc_provider.py``). Nothing but the sign-in renders before it; the host's list
decides who gets in; limits are counted per person, not per address (every visitor here
shares 127.0.0.1), and still hold after signing out and in again; a replay is counted as
the call it is; each person's History holds their own calls only."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import create_engine

from tests.conftest import local_server_process
from tests.oidc_provider import PAGE_TITLE, oidc_provider, subject_for
from tests.speech import silence
from tests.test_browser import (
    KEY,
    MAIN,
    SIDEBAR,
    browser_page,
    component_frame,
    connected,
    streamlit_app,
    wait_text,
)
from tests.test_browser_hosted import no_traceback, only_the_gate, open_first_call, press
from tests.test_browser_pages import go, grid_text
from voicelab.hosting.ledger import Ledger

CLIENT_ID = "voicelab-test"
pytestmark = pytest.mark.timeout(300)
USED_UP = "You have used today's 0.25 call minutes on this demo"


@contextlib.contextmanager
def signed_in_app(tmp: Path, issuer: str, metadata_url: str, client_secret: str, **env: str):
    """The app in hosted mode with ``[auth]`` naming the provider (``{port}``: Streamlit
    puts its own port in)."""
    (tmp / ".streamlit").mkdir(parents=True, exist_ok=True)
    (tmp / ".streamlit" / "secrets.toml").write_text(
        "[hosted]\n"
        'allowed_users = ["@example.org"]\n'
        "minutes_per_day = 0.25\n"
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{client_secret}"\n'
        f'server_metadata_url = "{metadata_url}"\n'
    )
    with streamlit_app(tmp, **env) as url:
        yield url


def sign_in(page: Page, email: str) -> None:
    """From the gate, through the provider's page, back to the app."""
    button = page.get_by_role("button", name="Sign in", exact=True)
    button.wait_for(timeout=60_000)
    button.click()
    page.wait_for_function(f"document.title === {PAGE_TITLE!r}", timeout=30_000)
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/?$"), timeout=30_000)


def sign_out(page: Page, where: str) -> None:
    page.locator(where).get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=60_000)


def keep_audio(page: Page) -> None:
    """Switch "Keep audio" on; a click on a sidebar still being redrawn can be lost, so it
    is repeated until the switch says on."""
    switch = page.locator(SIDEBAR).get_by_role("switch", name="Keep audio")
    deadline = time.monotonic() + 20
    while not switch.is_checked():
        assert time.monotonic() < deadline, "Keep audio never switched on"
        page.locator(SIDEBAR).get_by_text("Keep audio").click()
        time.sleep(1.0)


def test_sign_in_lets_in_the_hosts_list_and_counts_minutes_per_person(tmp_path: Path):
    client_secret = secrets.token_urlsafe(24)
    with (
        oidc_provider(CLIENT_ID, client_secret) as idp,
        local_server_process(KEY) as server,
        signed_in_app(
            tmp_path, idp.issuer, idp.metadata_url, client_secret,
            OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server,
        ) as url,
        browser_page(url, tmp_path / "quiet.wav", silence(120.0), loop=True) as page,
    ):  # fmt: skip
        # Before signing in: the sign-in and nothing else.
        page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=60_000)
        assert "Sign in to use this demo." in page.locator(MAIN).inner_text()
        only_the_gate(page)

        # Someone the host did not list is told so, and can only sign out.
        sign_in(page, "eve@elsewhere.org")
        wait_text(
            page,
            MAIN,
            lambda t: "eve@elsewhere.org is not one of them; sign out and use another" in t,
            30,
        )
        only_the_gate(page)
        sign_out(page, MAIN)

        # Ada is on the list: a call works, until her day's minutes run out.
        sign_in(page, "ada@example.org")
        wait_text(page, SIDEBAR, lambda t: "Signed in as ada@example.org" in t, 60)
        keep_audio(page)  # so it can be replayed
        press(page, "Start")
        wait_text(page, MAIN, connected, 30)
        wait_text(
            page,
            MAIN,
            lambda t: "You reached today's 0.25 call minutes on this demo, so the call" in t,
            40,
        )
        press(page, "Stop")
        press(page, "Start")
        wait_text(page, MAIN, lambda t: USED_UP in t, 30)
        press(page, "Stop")
        # A replay is a call too: no way around the day's minutes.
        open_first_call(page)
        page.get_by_role("button", name="Replay").click()
        wait_text(page, MAIN, lambda t: USED_UP in t, 30)
        go(page, "Talk")

        # Bob, from the same address, has his own minutes: counted per person.
        sign_out(page, SIDEBAR)
        sign_in(page, "bob@example.org")
        wait_text(page, SIDEBAR, lambda t: "Signed in as bob@example.org" in t, 60)
        press(page, "Start")
        wait_text(page, MAIN, connected, 30)
        press(page, "Stop")
        # His History holds his call, not Ada's.
        go(page, "History")
        wait_text(page, MAIN, lambda t: "Your own calls on this demo" in t, 20)
        assert grid_text(page, lambda t: "openai" in t).count("openai") == 1
        go(page, "Talk")

        # Ada again, after signing out and in (a new session): still used up.
        sign_out(page, SIDEBAR)
        sign_in(page, "ada@example.org")
        component_frame(page)
        press(page, "Start")
        wait_text(page, MAIN, lambda t: USED_UP in t, 30)
        press(page, "Stop")

        # Streamlit's real client did the work: code flow with PKCE, the secret never in
        # the page or the app's log.
        granted = [r for r in idp.token_requests if r["error"] is None]
        assert [r["email"] for r in granted] == [
            "eve@elsewhere.org",
            "ada@example.org",
            "bob@example.org",
            "ada@example.org",
        ]
        assert all(r["pkce_verified"] for r in granted)
        log = tmp_path / "streamlit.log"
        no_traceback(page, log)
        assert client_secret not in page.content() and client_secret not in log.read_text()

    # The ledger counted two people, by issuer and subject, never by address.
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'history.db'}")
    visitors = [entry.visitor for entry in Ledger(engine).entries()]
    engine.dispose()
    ada, bob = (f"{idp.issuer} {subject_for(e)}" for e in ("ada@example.org", "bob@example.org"))
    assert visitors == [ada, bob]  # the refused Starts opened no row
