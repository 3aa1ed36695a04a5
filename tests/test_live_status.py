"""The live-settings block in the sidebar under streamlit.testing.v1.AppTest: pending until
the server confirms, the reconnect marker once the model has spoken, a refusal shown and
put back; and the pure ``lines`` that decides what the block says."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.live_status import RECONNECT_HELP, Lines, lines
from components.plain_text import plain
from voicelab.call import CONNECTED, IDLE, Snapshot
from voicelab.observers.live_settings import APPLIED, RECONNECT, REFUSED, LiveStatus
from voicelab.protocol.session import SessionConfig

APP = str(Path(__file__).parent / "apps" / "live_status_app.py")
REASON = "Invalid value for threshold: the server keeps 0.5"  # as the test app refuses


@pytest.fixture
def at(monkeypatch) -> AppTest:
    """The app on the local backend (no key), after its first run."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=30).run()
    assert not app.exception
    return app


def by_label(elements, label: str):
    """Controls are found by their label: their keys change when settings are put back."""
    return next(e for e in elements if e.label == label)


def status_line(at: AppTest) -> str:
    """The block's caption in the sidebar, or "" when the block shows nothing."""
    return next((c.value for c in at.sidebar.caption if c.value.startswith("Live settings:")), "")


def sidebar_buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.sidebar.button]


def press(at: AppTest, label: str) -> None:
    by_label(at.main.button, label).click().run()
    assert not at.exception


def test_a_slider_change_is_pending_until_the_server_confirms_it(at):
    assert status_line(at) == ""  # nothing changed yet: no block
    by_label(at.sidebar.slider, "Threshold").set_value(0.65).run()
    assert status_line(at) == "Live settings: threshold … pending"
    press(at, "Server confirms")
    assert status_line(at) == "Live settings: threshold ✓ applied"
    assert by_label(at.sidebar.slider, "Threshold").value == 0.65
    assert "Reconnect" not in sidebar_buttons(at) and not at.sidebar.warning


def test_a_voice_change_after_the_model_has_spoken_needs_reconnect(at):
    press(at, "Model has spoken")
    by_label(at.sidebar.selectbox, "Voice").select("coral").run()
    assert status_line(at) == "Live settings: voice ↻ needs reconnect"
    reconnect = by_label(at.sidebar.button, "Reconnect")
    assert reconnect.help == RECONNECT_HELP
    by_label(at.sidebar.selectbox, "Voice").select("alloy").run()  # back to the one in force
    assert "needs reconnect" not in status_line(at)
    assert "Reconnect" not in sidebar_buttons(at)


def test_a_voice_change_before_the_model_has_spoken_goes_live(at):
    by_label(at.sidebar.selectbox, "Voice").select("coral").run()
    assert status_line(at) == "Live settings: voice … pending"
    assert "Reconnect" not in sidebar_buttons(at)
    press(at, "Server confirms")
    assert status_line(at) == "Live settings: voice ✓ applied"


def test_a_refused_change_shows_the_reason_and_the_control_goes_back(at):
    by_label(at.sidebar.slider, "Threshold").set_value(0.9).run()
    press(at, "Server refuses")
    assert status_line(at) == "Live settings: threshold ✗ refused"
    assert [w.value for w in at.sidebar.warning] == [
        plain(f"The server kept the previous value: {REASON}")
    ]
    assert by_label(at.sidebar.slider, "Threshold").value == 0.5  # the value in force


def test_lines_for_a_refusal_hold_the_servers_reason_and_ask_for_the_put_back():
    live = LiveStatus(
        fields={"threshold": REFUSED, "speed": APPLIED},
        refusal="Threshold must be at most 1 (invalid_value)",
        refused_fields=("threshold",),
        applied=SessionConfig(),
    )
    shown = lines(Snapshot(status=CONNECTED, live=live))
    assert shown.caption == "Live settings: threshold ✗ refused · speed ✓ applied"
    assert shown.warning == (
        "The server kept the previous value: Threshold must be at most 1 (invalid_value)"
    )
    assert shown.put_back and not shown.reconnect


def test_lines_show_nothing_outside_a_call_and_no_stale_refusal():
    live = LiveStatus(fields={"model": RECONNECT}, refusal="an earlier refusal")
    assert lines(Snapshot(status=IDLE, live=live)) == Lines()
    shown = lines(Snapshot(status=CONNECTED, live=live))
    assert shown.reconnect and shown.warning is None and not shown.put_back
    assert shown.caption == "Live settings: model ↻ needs reconnect"
