"""Pure pieces of the meters, the price table and the redactor, on values chosen so each
assertion can fail."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import key_shaped
from voicelab.media.level_ring import AUDIBLE_DBFS, LevelRing
from voicelab.observers.latency import BROWSER_BUFFER_MS, TurnLatency, percentiles
from voicelab.pricing import PriceTable, Tokens, prices
from voicelab.protocol.local_vad import threshold_dbfs, threshold_level
from voicelab.protocol.redact import REDACTED, Redactor


def test_cached_tokens_are_split_as_the_server_says_or_in_proportion():
    given = Tokens.of(
        {
            "input_token_details": {
                "text_tokens": 100,
                "audio_tokens": 300,
                "cached_tokens": 80,
                "cached_tokens_details": {"text_tokens": 50, "audio_tokens": 30},
            },
            "output_token_details": {"text_tokens": 20, "audio_tokens": 200},
        }
    )
    assert (given.cached_text_in, given.cached_audio_in) == (50, 30)
    shared = Tokens.of(
        {"input_token_details": {"text_tokens": 100, "audio_tokens": 300, "cached_tokens": 80}}
    )
    assert (shared.cached_text_in, shared.cached_audio_in) == (20, 60)
    assert Tokens.of({"input_token_details": {"text_tokens": "x", "audio_tokens": -5}}) == Tokens()


def test_cost_follows_the_table_per_kind_of_token():
    table = prices()
    tokens = Tokens(
        text_in=1000,
        audio_in=2000,
        cached_text_in=400,
        cached_audio_in=0,
        text_out=10,
        audio_out=500,
    )
    rates = table.models["gpt-realtime-2.1-mini"]
    expected = (
        600 * rates["text_in"] + 400 * rates["cached_text_in"] + 2000 * rates["audio_in"]
        + 10 * rates["text_out"] + 500 * rates["audio_out"]
    ) / 1e6  # fmt: skip
    assert table.cost("openai", "gpt-realtime-2.1-mini", tokens) == pytest.approx(expected)
    assert table.cost("local", "gpt-realtime-2.1-mini", tokens) == 0.0  # priced by backend
    assert table.cost("openai", "no-such-model", tokens) is None
    assert PriceTable.from_dict({"as_of": "x", "models": {}}).cost("openai", "m", tokens) is None
    assert table.as_of and "openai.com" in table.source


def test_the_redactor_blanks_secret_fields_the_calls_key_and_key_shaped_text():
    key = "test-key-of-this-call"
    pasted = key_shaped("ABCDEFGHIJKLMNOPQRSTUV")
    clean = Redactor([key, "short"])(
        {
            "type": "session.created",
            "session": {
                "client_secret": {"value": "not-a-real-secret"},
                "instructions": f"use {key}",
            },
            "items": [{"text": f"mine is {pasted}, ok"}, 3, None],
            "note": "short words stay",
        }
    )
    assert clean["session"]["client_secret"] == REDACTED
    assert clean["session"]["instructions"] == f"use {REDACTED}"
    assert clean["items"][0]["text"] == f"mine is {REDACTED}, ok"
    assert clean["items"][1:] == [3, None] and clean["note"] == "short words stay"
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    assert REDACTED in repr(Redactor()(deep))  # cut off, not a RecursionError


def test_the_level_ring_is_the_uplink_clock_and_keeps_only_its_size():
    ring = LevelRing(seconds=1.0)  # 50 frames
    loud = np.full(960, 3000, dtype=np.int16)
    for n in range(120):
        ring.sent(loud if n % 10 == 0 else None, at=1000.0 + n * 0.02)
    assert ring.count == 120
    assert ring.time_of_ms(100 * 20 + 5) == pytest.approx(1000.0 + 100 * 0.02)
    assert ring.time_of_ms(10 * 20) is None  # left the ring
    assert ring.time_of_ms(119 * 20) is None  # the newest slot may be half written
    recent = ring.recent(10.0, now=1000.0 + 119 * 0.02)
    assert len(recent.times) == 49 and np.all(np.diff(recent.times) > 0)
    assert recent.dbfs.max() >= AUDIBLE_DBFS and recent.dbfs.min() == -100.0


def test_voice_to_voice_adds_the_two_browser_buffers_and_percentiles_skip_the_unknown():
    turns = (
        TurnLatency(
            "a",
            last_audible=10.0,
            speech_stopped=10.5,
            response_created=10.6,
            first_audio_in=10.9,
            first_audio_out=10.91,
        ),
        TurnLatency("b", last_audible=20.0, speech_stopped=20.6),
    )
    assert turns[0].at_bridge_ms == pytest.approx(910.0)
    assert turns[0].voice_to_voice_ms == pytest.approx(910.0 + 2 * BROWSER_BUFFER_MS)
    assert sum(turns[0].stages_ms().values()) == pytest.approx(turns[0].voice_to_voice_ms)
    assert turns[1].voice_to_voice_ms is None
    spread = percentiles(turns)
    assert spread["voice to voice"][50] == pytest.approx(1070.0)
    assert spread["speech end → stopped"][50] == pytest.approx(550.0)


def test_the_threshold_level_is_known_for_the_local_server_vad_only():
    session = {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.9}}}}
    assert (
        threshold_level("local", session)
        == pytest.approx(threshold_dbfs(0.9))
        == pytest.approx(-33.5)
    )
    assert threshold_level("openai", session) is None
    semantic = {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    assert threshold_level("local", semantic) is None and threshold_level("local", None) is None
