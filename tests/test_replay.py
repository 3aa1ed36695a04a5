"""Replay: a stored call's microphone audio through new calls with other settings, no
browser; the same speech under two settings gives measurably different turns, and Compare
shows both the settings that differ and the figures."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.speech import phrase, silence
from tests.test_bridge import target
from voicelab.call.replay import replay
from voicelab.history.audio_file import microphone
from voicelab.history.compare import figures_rows, settings_diff
from voicelab.history.store import HistoryStore
from voicelab.history.writer import HistoryWriter
from voicelab.media.frames import WEBRTC_RATE
from voicelab.protocol.session import SessionConfig

pytestmark = pytest.mark.timeout(300)


def user_turns(call) -> list[dict]:
    return [t for t in call.turns if t["role"] == "user"]


async def test_one_recording_replayed_under_two_silences_gives_different_turns(server, tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}", tmp_path / "audio")
    writer = HistoryWriter(store, flush_s=0.2)
    # The "room": two sentences with a 0.8 s pause between them.
    mic = np.concatenate(
        [
            phrase("please tell me a story", lead_s=0.5),
            silence(0.8),
            phrase("about the ocean and the sky"),
            silence(1.0),
        ]
    )
    base_url = server.base_url

    async def run(samples: np.ndarray, rate: int, silence_ms: int):
        config = SessionConfig(silence_duration_ms=silence_ms)
        return await asyncio.to_thread(replay, samples, rate, target(base_url), config, writer)

    try:
        recorded = await run(mic, WEBRTC_RATE, 1500)
        wav = store.wav_bytes(recorded.history_id)
        assert wav is not None
        samples, rate = microphone(wav)
        eager = await run(samples, rate, 300)
        patient = await run(samples, rate, 1500)
        a, b = store.load(eager.history_id), store.load(patient.history_id)
        assert a is not None and b is not None
        print(f"silence 300 ms: {len(user_turns(a))} user turns; 1500 ms: {len(user_turns(b))}")
        assert len(user_turns(a)) == 2 and len(user_turns(b)) == 1
        assert (
            len(user_turns(store.load(recorded.history_id))) == 1
        )  # the recording, replayed alike

        diff = settings_diff(a, b)
        assert [(d.name, d.a, d.b) for d in diff] == [("silence_duration_ms", 300, 1500)]
        rows = {r.name: (r.a, r.b) for r in figures_rows(a, b)}
        assert rows["turns"] == (2, 1)
        assert (
            rows["p50 voice to voice, ms"][0] is not None
            and rows["p50 voice to voice, ms"][1] is not None
        )
    finally:
        writer.close()
        store.close()
