"""Every call is stored as it happens: real loopback calls against the local server, a real
SQLite history with its writer thread, and the zip a user exports."""

from __future__ import annotations

import asyncio
import io
import json
import wave
import zipfile

import numpy as np
import pytest

from components import event_rows
from tests.browser_leg import until
from tests.conftest import TEST_KEY, key_shaped
from tests.speech import WEATHER, phrase
from tests.test_bridge import assistants, call, users
from voicelab.call import CONNECTED, Bridge
from voicelab.history.audio_file import RATE
from voicelab.history.export import export_zip
from voicelab.history.store import HistoryStore
from voicelab.history.writer import HistoryWriter

#: A key as a user might paste it into the chat: shaped like OpenAI's.
PASTED_KEY = key_shaped("RECOGNISABLEfakeKEY0123456789abcdef")


@pytest.fixture
def history(tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", tmp_path / "audio")
    writer = HistoryWriter(store, flush_s=0.2)
    yield store, writer
    writer.close()
    store.close()


def envelope_db(samples: np.ndarray, rate: int, step_s: float = 0.05) -> np.ndarray:
    step = int(rate * step_s)
    n = len(samples) // step
    x = samples[: n * step].astype(np.float32).reshape(n, step) / 32768
    return 20 * np.log10(np.sqrt((x**2).mean(axis=1)) + 1e-9)


async def test_a_call_is_stored_as_it_runs_and_exports_whole(server, history):
    store, writer = history
    bridge = Bridge()
    bridge.history, bridge.keep_audio = writer, True
    async with call(server.base_url, bridge) as (bridge, leg):
        await until(bridge, lambda s: s.status == CONNECTED, what="connected")
        hid = bridge.history_id
        assert hid is not None
        leg.speak(phrase(WEATHER, lead_s=0.5, tail_s=2.5))
        await until(
            bridge,
            lambda s: assistants(s) and assistants(s)[-1].final and s.responses,
            timeout=30,
            what="the spoken turn answered",
        )
        await asyncio.to_thread(bridge.send_text, f"my key is {PASTED_KEY} and {TEST_KEY}")
        await until(bridge, lambda s: len(s.responses) == 2, timeout=30, what="second answer")
        await asyncio.sleep(1.0)  # the answer's audio played out

        # During the call: the row, its turns and its events are already in the store.
        assert await asyncio.to_thread(writer.flush)
        stored = store.load(hid)
        assert stored is not None and stored.summary.ended_at is None
        snap = bridge.snapshot()
        assert [t["item_id"] for t in stored.turns] == [t.item_id for t in snap.turns]
        assert [t["text"] for t in stored.turns] == [t.text for t in snap.turns]
        reply = next(t for t in stored.turns if t["item_id"] == assistants(snap)[0].item_id)
        assert reply["latency"]["voice_to_voice_ms"] > 0 and reply["tokens"]["audio_out"] > 0
        logged = bridge.events()
        assert [e.seq for e in stored.events] == [e.seq for e in logged]
        assert [e.event for e in stored.events] == [dict(e.event) for e in logged]
        assert stored.figures["responses"] == 2 and stored.figures["turns"] == 2
        started_at = stored.summary.started_at
        user_turn = users(snap)[0]

        # The Events page's filter and download hold exactly the bridge's events.
        rows = event_rows.rows(bridge.events())
        lines = [json.loads(line) for line in event_rows.jsonl(rows).splitlines()]
        assert [(x["seq"], x["direction"], x["event"]) for x in lines] == [
            (e.seq, e.direction, dict(e.event)) for e in bridge.events()
        ]
        sent = event_rows.select(rows, "response.", "sent")
        assert [r.seq for r in sent] == [
            e.seq
            for e in bridge.events()
            if e.direction == "sent" and e.type.startswith("response.")
        ] and sent
        found = event_rows.select(rows, search="redacted")
        assert found and all(
            r.type.startswith("conversation.item") or "response" in r.type for r in found
        )
        assert PASTED_KEY not in event_rows.jsonl(rows) and TEST_KEY not in event_rows.jsonl(rows)

    await asyncio.to_thread(writer.flush)
    stored = store.load(hid)
    assert stored is not None and stored.summary.ended_at is not None
    duration = stored.summary.ended_at - started_at

    # No secret anywhere: not the pasted key, not the call's own key.
    everything = json.dumps([e.event for e in stored.events]) + json.dumps(stored.turns)
    assert PASTED_KEY not in everything and TEST_KEY not in everything
    assert "[redacted]" in everything

    wav = store.wav_bytes(hid)
    assert wav is not None
    files = zipfile.ZipFile(io.BytesIO(export_zip(stored, wav)))
    assert sorted(files.namelist()) == sorted(
        ["transcript.md", "transcript.json", "events.jsonl", "session.json", "metrics.json",
         "audio.wav"]
    )  # fmt: skip
    lines = files.read("events.jsonl").decode().splitlines()
    assert len(lines) == len(stored.events)
    assert PASTED_KEY not in files.read("events.jsonl").decode()
    assert json.loads(files.read("session.json"))["voice"] == "alloy"

    with wave.open(io.BytesIO(files.read("audio.wav"))) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, RATE)
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    length_s = len(audio) / RATE
    print(f"recording {length_s:.2f} s for a call of {duration:.2f} s")
    assert length_s == pytest.approx(duration, abs=0.5)

    # Energy where the events say: the user's speech on the left inside its speech span,
    # the model's voice on the right while it spoke, and not the other way round.
    left, right = envelope_db(audio[:, 0], RATE), envelope_db(audio[:, 1], RATE)
    started = [e for e in stored.events if e.event["type"] == "input_audio_buffer.speech_started"]
    stopped = [e for e in stored.events if e.event["type"] == "input_audio_buffer.speech_stopped"]
    assert started[0].event["item_id"] == user_turn.item_id
    speech = slice(
        int((started[0].at - started_at) / 0.05), int((stopped[0].at - started_at) / 0.05)
    )
    assert np.percentile(left[speech], 75) > -45 and np.percentile(right[speech], 75) < -60
    playing = [e for e in stored.events if e.event["type"] == "output_audio_buffer.started"]
    first = int((playing[0].at - started_at) / 0.05) + 4
    answer = slice(first, first + 20)
    assert np.percentile(right[answer], 75) > -45 and np.percentile(left[answer], 75) < -60
