"""More than one machine, with the real parts: two ``streamlit run`` replicas behind Debian's
nginx serving the repository's ``deploy/nginx.conf``, one real PostgreSQL holding both
replicas' history and hosting ledger, and Chromium visitors. Each browser stays on its
replica through Start, talk and Stop; each replica's calls show in the other's History;
the deployment-wide limit counts the calls of both."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import BrowserContext, Page

from tests.conftest import local_server_process
from tests.nginx import nginx_proxy
from tests.postgres import fresh_database
from tests.speech import silence
from tests.test_browser import (
    KEEP_PEERS,
    KEY,
    MAIN,
    MODEL,
    browser_page,
    component_frame,
    connected,
    streamlit_app,
    type_message,
    wait_text,
)
from tests.test_browser_pages import go, grid_text

#: How the image and the systemd unit start a replica (deploy/Dockerfile, voicelab.service).
SERVE = Path(__file__).resolve().parents[1] / "deploy" / "serve"


@contextlib.contextmanager
def replica(tmp: Path, database: str, upstream: str) -> Iterator[str]:
    """One app process, started as a deployment starts it, with the shared history and a
    deployment-wide limit of one call."""
    (tmp / ".streamlit").mkdir(parents=True)
    (tmp / ".streamlit" / "secrets.toml").write_text(
        f'[connections.history]\nurl = "{database}"\naudio_dir = "{tmp / "audio"}"\n\n'
        "[hosted]\ncalls_at_once = 1\n"
    )
    with streamlit_app(tmp, entrypoint=SERVE, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=upstream) as url:
        yield url


def served_by(context: BrowserContext) -> str:
    """The replica nginx keeps this browser on (its cookie)."""
    return {c["name"]: c["value"] for c in context.cookies()}.get("voicelab_replica", "")


def press(page: Page, button: str) -> None:
    component_frame(page).get_by_role("button", name=button).click()


def talk(page: Page, words: str) -> None:
    press(page, "Start")
    wait_text(page, MAIN, connected, 30)
    type_message(page, words)
    wait_text(page, MODEL, lambda t: words.split()[-1] in t.lower(), 30)


def test_two_replicas_behind_nginx_share_history_and_limits(tmp_path: Path, postgres: str):
    database = fresh_database(postgres)
    with (
        local_server_process(KEY) as upstream,
        replica(tmp_path / "a", database, upstream) as first,
        replica(tmp_path / "b", database, upstream) as second,
        nginx_proxy(urlparse(first).port, urlparse(second).port) as url,  # type: ignore[arg-type]
        browser_page(url, tmp_path / "quiet.wav", silence(120.0), loop=True) as page,
    ):
        component_frame(page)
        other = page.context.browser.new_context(permissions=["microphone"])  # type: ignore[union-attr]
        other.add_init_script(KEEP_PEERS)
        visitor = other.new_page()
        visitor.goto(url)
        component_frame(visitor)
        one, two = served_by(page.context), served_by(other)
        assert {one, two} == {"a", "b"}, (one, two)  # nginx's round robin, then sticky

        # Each call goes through its own replica, start to end.
        talk(page, "tell me about the ocean")
        press(page, "Stop")
        wait_text(page, MAIN, lambda t: "Ended" in t, 15)
        talk(visitor, "and what about the sky")

        # One call at once in the whole deployment: the other replica's counts.
        press(page, "Start")
        wait_text(page, MAIN, lambda t: "The demo is busy: 1 call is going on" in t, 30)
        press(page, "Stop")
        press(visitor, "Stop")
        wait_text(visitor, MAIN, lambda t: "Ended" in t, 15)
        assert (served_by(page.context), served_by(other)) == (one, two)  # never moved

        # Both calls, each made on one replica, in the History of each.
        for pg in (page, visitor):
            go(pg, "History")
            wait_text(pg, MAIN, lambda t: "Pick one call" in t, 20)
            grid_text(pg, lambda t: t.count("gpt-realtime") == 2)
        for pg in (page, visitor):
            assert "Traceback" not in pg.locator("body").inner_text()
        other.close()
