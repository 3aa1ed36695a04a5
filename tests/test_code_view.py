"""View as code: the program it shows runs against the backend actually in use, and never
holds the key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from streamlit.testing.v1 import AppTest

from tests.conftest import serving
from voicelab.code_view import python_snippet, session_json
from voicelab.protocol.session import SessionConfig

APP = str(Path(__file__).parent / "apps" / "code_view_app.py")


def test_the_program_compiles_round_trips_and_never_holds_the_key():
    session = SessionConfig(instructions='Say "hi" {twice}', threshold=0.7).to_session("openai")
    code = python_snippet(session, "https://api.openai.com/v1/")
    namespace: dict = {}
    exec(compile(code, "snippet.py", "exec"), namespace)  # defines, does not call
    assert namespace["SESSION"] == session
    assert "https://api.openai.com/v1/realtime/calls" in code
    assert "os.environ['OPENAI_API_KEY']" in code and "sk-" not in code
    assert json.loads(session_json(session)) == session


async def test_the_program_opens_a_call_on_a_real_server_and_hangs_up(monkeypatch, capsys):
    async with serving(api_key="code-view-token") as server:
        session = SessionConfig(instructions="Be brief.", temperature=0.3).to_session("local")
        code = python_snippet(session, server.base_url, "VOICELAB_LOCAL_API_KEY")
        monkeypatch.setenv("VOICELAB_LOCAL_API_KEY", "code-view-token")
        namespace: dict = {"__name__": "snippet"}
        exec(compile(code, "snippet.py", "exec"), namespace)
        await namespace["main"]()  # what `python snippet.py` runs
        call_id, first = capsys.readouterr().out.split()
        assert call_id.startswith("rtc_") and first == "session.created"
        assert server.ended_calls == 1 and not server.calls  # it hung up


def program(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.code if "CALLS_URL" in c.value)


def test_the_sidebar_shows_the_address_of_the_in_process_server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    url = re.search(r'CALLS_URL = "(.+)/realtime/calls"', program(at)).group(1)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    # the server at that address is running: the one this process started for the app
    health = httpx.get(url.removesuffix("/v1") + "/healthz", timeout=5).json()
    assert health["status"] == "ok"
    assert "os.environ['VOICELAB_LOCAL_API_KEY']" in program(at)


def test_the_sidebar_shows_openais_address_and_not_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "code-view-key-not-a-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    at = AppTest.from_file(APP, default_timeout=30).run()
    shown = program(at)
    assert 'CALLS_URL = "http://127.0.0.1:9/v1/realtime/calls"' in shown
    assert "os.environ['OPENAI_API_KEY']" in shown
    assert "code-view-key" not in shown and "code-view-key" not in str(at)
