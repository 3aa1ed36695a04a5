"""Ten visitors at once, as the app holds them: a bridge each, the server side of each
browser leg built from streamlit-webrtc's own sink (``tests/browser_leg.py``), one history writer, the live
view's HTTP route. Each sees only its own conversation and events, and a fault injected
into one visitor's call touches no other.

The upstream is ``voicelab serve-local`` in its own process (as OpenAI is elsewhere):
ten calls' worth of every end on one loop would measure this machine, not the app. The two
visitors whose calls meet a fault talk to a second local server on a loop of its own in
this process (as the app runs it), whose faults can be set per call."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from components.live import route
from tests.browser_leg import BrowserLeg, until
from tests.conftest import TEST_KEY, local_server_process
from tests.speech import silence
from tests.test_bridge import assistants, session, target
from voicelab.call import CONNECTED, Bridge
from voicelab.call.recovery import RecoveryPolicy
from voicelab.history.store import HistoryStore
from voicelab.history.writer import HistoryWriter
from voicelab.local import Faults, LocalServerThread, ServerOptions

ROOT = Path(__file__).resolve().parents[1]
VISITORS = 10
DROPPED, GARBLED = VISITORS - 1, 1  # the visitors whose calls meet a fault


def said(i: int) -> str:
    return f"visitor {i} says code {i * 7 + 3}"


def codes(text: str) -> set[str]:
    return set(re.findall(r"code (\d+)", text))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with local_server_process(TEST_KEY, exit_after_s=300) as url:
        yield url


def calls_at(base_url: str) -> list[str]:
    listed = httpx.get(
        f"{base_url}/realtime/calls", headers={"Authorization": f"Bearer {TEST_KEY}"}
    )
    return [c["id"] for c in listed.json()["data"]]


async def test_ten_visitors_see_only_their_own_call(tmp_path, upstream: str) -> None:
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", tmp_path / "audio")
    writer = HistoryWriter(store, flush_s=0.2)
    http = TestClient(Starlette(routes=route.routes("")))
    bridges = [Bridge(recovery=RecoveryPolicy(first_delay_s=0.2)) for _ in range(VISITORS)]
    legs = [BrowserLeg(b) for b in bridges]
    faulty = LocalServerThread(ServerOptions(api_key=TEST_KEY))
    faulty_url = await asyncio.to_thread(faulty.start)
    srv = faulty.server
    try:
        for i, (bridge, leg) in enumerate(zip(bridges, legs, strict=True)):
            bridge.history = writer
            # Faults are taken by each call when it is set up: only these two meet one.
            srv.options.faults = {
                DROPPED: Faults(drop_after_s=15.0),  # set up last: after its first answer
                GARBLED: Faults(malformed_every=3),
            }.get(i, Faults())
            url = faulty_url if i in (DROPPED, GARBLED) else upstream
            await leg.connect()
            bridge.start(target(url), session())
            await until(bridge, lambda s: s.status == CONNECTED, timeout=30)
            leg.speak(silence(55.0))
        srv.options.faults = Faults()
        first_ids = [b.snapshot().call_id for b in bridges]
        assert len(set(first_ids)) == VISITORS
        for i, bridge in enumerate(bridges):
            await asyncio.to_thread(bridge.send_text, said(i))
        for bridge in bridges:
            await until(bridge, lambda s: any(t.final for t in assistants(s)), timeout=60)

        # One visitor's upstream vanishes and is carried over; nobody else notices.
        def back(s) -> bool:
            return s.status == CONNECTED and s.call_id != first_ids[DROPPED]

        await until(bridges[DROPPED], back, timeout=45, what="the dropped visitor recovered")
        for i, bridge in enumerate(bridges):
            await asyncio.to_thread(bridge.send_text, f"again, {said(i)}")
        for bridge in bridges:
            await until(bridge, lambda s: sum(t.final for t in assistants(s)) >= 2, timeout=60)

        for i, (bridge, leg) in enumerate(zip(bridges, legs, strict=True)):
            snap = bridge.snapshot()
            assert snap.status == CONNECTED and snap.problem is None, (i, snap.problem)
            if i != DROPPED:
                assert snap.call_id == first_ids[i], i  # never dropped, never renewed
            text = " ".join(t.text for t in snap.turns)
            assert codes(text) == {str(i * 7 + 3)}, (i, text)  # its own words only
            assert [t.role for t in snap.turns] == ["user", "assistant"] * 2, i
            garbled = [e for e in snap.errors if "not a valid event" in e]
            assert bool(garbled) == (i == GARBLED), (i, snap.errors)

            # Its events are its own call's only.
            for logged in bridge.events():
                assert codes(str(logged.event)) <= {str(i * 7 + 3)}, (i, logged.event)
            # The live route answers its token with its call and nothing else.
            live = http.get(route.url("", bridge)).json()
            assert live["active"] and live["state"]["problem"] is None
            assert codes(str(live)) <= {str(i * 7 + 3)}, i
            # Its page received the model's voice, its microphone reached its call.
            assert leg.loud_frames(), i  # how much of it, with ten calls here, is capacity
            assert snap.mic_frames > 0, i

        # The history holds each visitor's calls apart.
        assert await asyncio.to_thread(writer.flush)
        for i, bridge in enumerate(bridges):
            stored = store.load(bridge.history_id)
            assert stored is not None
            stored_text = " ".join(str(t.get("text")) for t in stored.turns)
            assert codes(stored_text) == {str(i * 7 + 3)}, (i, stored_text)
            assert codes(" ".join(str(e.event) for e in stored.events)) <= {str(i * 7 + 3)}, i
    finally:
        for bridge in bridges:
            await asyncio.to_thread(bridge.stop, 10.0)
        for leg in legs:
            with contextlib.suppress(Exception):
                await leg.close()
        writer.close()
        store.close()
        http.close()
    for _ in range(50):
        if not faulty.call_ids() and not await asyncio.to_thread(calls_at, upstream):
            break
        await asyncio.sleep(0.1)
    assert faulty.call_ids() == [] and await asyncio.to_thread(calls_at, upstream) == []
    await asyncio.to_thread(faulty.stop)
    assert all(b.threads() == [] for b in bridges)
