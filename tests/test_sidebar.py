"""Sidebar logic under streamlit.testing.v1.AppTest: presets, share links, the temperature
rule, and the key never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from voicelab import presets
from voicelab.protocol.session import ConfigError, SessionConfig

APP = str(Path(__file__).parent / "apps" / "sidebar_app.py")


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def by_label(elements, label: str):
    """Controls are found by their label: their keys change when a preset is loaded."""
    return next(e for e in elements if e.label == label)


def chosen(at: AppTest) -> dict:
    return json.loads(at.code[-1].value)


def run(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def test_a_built_in_preset_loads_into_the_controls(no_key):
    at = run()
    assert chosen(at)["config"]["turn_detection"] == "server_vad"
    at.sidebar.selectbox(key="preset.choice").select("Patient listener")
    at.sidebar.button[0].click().run()  # Load
    config = chosen(at)["config"]
    assert (config["turn_detection"], config["eagerness"]) == ("semantic_vad", "low")
    at.sidebar.selectbox(key="preset.choice").select("Noisy room")
    at.sidebar.button[0].click().run()
    config = chosen(at)["config"]
    assert (config["threshold"], config["silence_duration_ms"], config["noise_reduction"]) == (
        0.8, 700, "far_field",
    )  # fmt: skip
    assert not at.exception and not at.warning


def test_saved_preset_comes_back_after_changes(no_key):
    at = run()
    by_label(at.sidebar.slider, "Threshold").set_value(0.35).run()
    at.sidebar.text_input(key="preset.name").input("quiet voice").run()
    at.sidebar.button[2].click().run()  # Save
    by_label(at.sidebar.slider, "Threshold").set_value(0.9).run()
    assert chosen(at)["config"]["threshold"] == 0.9
    at.sidebar.selectbox(key="preset.choice").select("quiet voice")
    at.sidebar.button[0].click().run()
    assert chosen(at)["config"]["threshold"] == 0.35


def test_a_share_link_round_trips_and_never_holds_the_key(no_key):
    at = run()
    by_label(at.sidebar.slider, "Silence duration (ms)").set_value(900).run()
    by_label(at.sidebar.selectbox, "Voice").select("coral").run()
    at.sidebar.button[1].click().run()  # Share link
    query = {k: at.query_params[k] for k in at.query_params}
    assert query == {"voice": ["coral"], "silence_duration_ms": ["900"]} or query == {
        "voice": "coral", "silence_duration_ms": "900",
    }  # fmt: skip
    flat = {k: v[0] if isinstance(v, list) else v for k, v in query.items()}
    opened = run(flat)  # a new visitor opens the link
    config = chosen(opened)["config"]
    assert (config["voice"], config["silence_duration_ms"]) == ("coral", 900)
    assert "Loaded the settings from the link." in [c.value for c in opened.sidebar.caption]


def test_a_bad_link_is_one_sentence_and_the_defaults_stay(no_key):
    at = run({"threshold": "loud"})
    assert "The link's threshold is not a valid value ('loud')." in " ".join(
        c.value for c in at.sidebar.caption
    )
    assert chosen(at)["config"]["threshold"] == 0.5 and not at.exception


def test_temperature_is_shown_but_disabled_for_openai_with_the_reason(no_key, monkeypatch):
    at = run()
    assert not by_label(at.sidebar.checkbox, "Set temperature").disabled  # local takes it
    monkeypatch.setenv("OPENAI_API_KEY", "sidebar-test-key-not-a-secret")
    at = run()
    assert chosen(at)["backend"] == "openai"
    assert by_label(at.sidebar.checkbox, "Set temperature").disabled
    assert by_label(at.sidebar.slider, "Temperature").disabled
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "OpenAI's GA Realtime models have no temperature setting" in captions
    assert "sidebar-test-key" not in captions
    assert "Key: from the OPENAI_API_KEY environment variable" in captions


def test_presets_unit_round_trip():
    config = SessionConfig(threshold=0.7, temperature=0.4, transcription_model=None,
                           idle_timeout_ms=6000, create_response=False)  # fmt: skip
    assert presets.from_query(presets.to_query(config)) == config
    assert presets.to_query(SessionConfig()) == {}
    assert "key" not in " ".join(presets.to_query(config))
    with pytest.raises(ConfigError, match="Speed must be between"):
        presets.from_query({"speed": "9"})
    for preset in presets.BUILT_IN.values():
        presets.apply(SessionConfig(), preset)  # every built-in is valid
