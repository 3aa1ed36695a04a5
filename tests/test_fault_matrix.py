"""Every fault the local server can inject, through the real bridge on loopback.

For each: the sentence the user sees, no traceback in any log, no thread, peer connection or
upstream call left behind once the call is stopped, the turns before the fault intact, and
recovery by itself where the fault is transient (where it is not, the call either goes on
as it was or ends with its own sentence, never retried). Setup faults are met twice: at
Start (the sentence; the next Start works) and while recovering a lost call (a transient
one is retried and recovers, a permanent one ends the call at once)."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from tests.browser_leg import BrowserLeg, until
from tests.conftest import TEST_KEY, serving
from tests.speech import silence
from tests.test_bridge import assistants, call, session, target
from voicelab.call import CONNECTED, ERROR, Bridge
from voicelab.call.recovery import RecoveryPolicy
from voicelab.call.renewal import RenewalPolicy
from voicelab.local import Faults

ATTEMPTS = 3
QUICK = RecoveryPolicy(attempts=ATTEMPTS, first_delay_s=0.2, max_delay_s=1.0)


def open_peers() -> int:
    gc.collect()
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"
    )


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info]


async def reply(bridge: Bridge, question: str, n: int, timeout: float = 30.0):
    """Ask, and wait for the ``n``-th finished answer."""
    await asyncio.to_thread(bridge.send_text, question)
    return await until(
        bridge,
        lambda s: sum(t.final for t in assistants(s)) >= n,
        timeout=timeout,
        what=f"answer {n}",
    )


def shown(snap) -> list[str]:
    """Every sentence the page shows for this snapshot."""
    words = [snap.problem or "", *snap.errors]
    if snap.recovery is not None:
        words.append(snap.recovery.words)
    return [w for w in words if w]


async def no_leaks(bridge: Bridge, srv: Any, peers_before: int) -> None:
    for _ in range(100):
        if not bridge.threads() and not srv.calls and open_peers() <= peers_before:
            break
        await asyncio.sleep(0.1)
    assert bridge.threads() == []
    assert srv.calls == {}
    assert open_peers() <= peers_before


# ---- faults in a call that is up ------------------------------------------------------------


@dataclass(frozen=True)
class MidCall:
    faults: Faults = field(default_factory=Faults)
    sees: str | None = None  # a sentence shown (None: nothing at all is shown)
    recovers: bool = False  # the upstream goes, and a new call carries the conversation
    first_reply: bool = True  # the first answer finishes despite the fault
    max_call_s: float = 3600.0
    bridge: dict[str, Any] = field(default_factory=dict)


MID_CALL = {
    "the peer vanishes": MidCall(Faults(drop_after_s=6.0), "Reconnecting (1 of 3)…", True),
    "the event channel closes": MidCall(
        Faults(close_channel_after_s=6.0), "Reconnecting (1 of 3)…", True
    ),
    "malformed events": MidCall(
        Faults(malformed_every=4),
        "The server sent a message that is not a valid event; ignored it.",
    ),
    "unknown events": MidCall(Faults(malformed_every=4, garbage="unknown")),
    "oversized events": MidCall(
        Faults(malformed_every=4, garbage="oversized"),
        "The server sent an event too large to handle (195 KB); ignored it.",
    ),
    "error events": MidCall(
        Faults(malformed_every=4, garbage="error"),
        "Injected fault: the server reported an error. (injected_error)",
    ),
    "the session expires": MidCall(
        sees="Your session hit the maximum duration of 8 seconds. (session_expired)",
        recovers=True,
        max_call_s=8.0,
        bridge={"renewal": RenewalPolicy(enabled=False)},
    ),
    "slow synthesis": MidCall(Faults(synth_delay_s=1.5)),
    "an answer that never finishes": MidCall(
        Faults(synth_delay_s=600.0),
        "The model's answer stalled (nothing arrived for 3 s), so it was stopped; ask again.",
        first_reply=False,
        bridge={"answer_stall_s": 3.0},
    ),
}


@pytest.mark.parametrize("name", MID_CALL)
async def test_a_fault_in_a_live_call(name: str, caplog: pytest.LogCaptureFixture) -> None:
    case = MID_CALL[name]
    caplog.set_level(logging.INFO)
    peers_before = open_peers()
    async with serving(api_key=TEST_KEY, faults=case.faults, max_call_s=case.max_call_s) as srv:
        bridge = Bridge(recovery=QUICK, **case.bridge)
        async with call(srv.base_url, bridge) as (_, leg):
            first = await until(bridge, lambda s: s.status == CONNECTED)
            if case.recovers:
                srv.options.faults = Faults()  # only the first call meets the fault
            leg.speak(silence(55.0))  # a live microphone throughout
            seen: list[str] = []

            def saw(s) -> None:
                seen.extend(w for w in shown(s) if w not in seen)

            if case.first_reply:
                before = await reply(bridge, "tell me about the weather", 1)
                kept = [(t.role, t.text) for t in before.turns if t.final]
            else:
                await asyncio.to_thread(bridge.send_text, "tell me about the weather")
                kept = []

            if case.recovers:

                def back(s) -> bool:
                    saw(s)
                    return s.status == CONNECTED and s.call_id != first.call_id

                after = await until(bridge, back, timeout=45, what="a new upstream call")
                assert after.recovery is None and after.problem is None
            else:

                def seen_or_settled(s) -> bool:
                    saw(s)
                    return case.sees in seen if case.sees else True

                await until(bridge, seen_or_settled, timeout=30, what=case.sees)
                await asyncio.sleep(1.0)  # and the call stays up
                after = bridge.snapshot()
                saw(after)
                assert after.status == CONNECTED and after.call_id == first.call_id

            if case.sees is None:
                assert seen == [], seen
            else:
                assert case.sees in seen, seen
            assert [(t.role, t.text) for t in after.turns if t.final][: len(kept)] == kept
            if case.first_reply:  # the call goes on: the next answer comes
                again = await reply(bridge, "and tomorrow", 2)
                assert len([t for t in again.turns if t.final]) == len(kept) + 2
        await no_leaks(bridge, srv, peers_before)
    assert tracebacks(caplog) == []


# ---- faults in setting a call up --------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    faults: Faults
    sees: str
    transient: bool


SETUP = {
    "400": Setup(Faults(sdp_status=400), "The server refused the call setup (400)", False),
    "401": Setup(Faults(sdp_status=401), "The API key was rejected (401)", False),
    "403": Setup(Faults(sdp_status=403), "may not use the Realtime API (403)", False),
    "429": Setup(Faults(sdp_status=429), "Rate limited (429)", True),
    "500": Setup(Faults(sdp_status=500), "The Realtime service failed (500)", True),
    "503": Setup(Faults(sdp_status=503), "The Realtime service failed (503)", True),
    "signaling timeout": Setup(
        Faults(sdp_delay_s=3.0), "The Realtime service did not answer within 1 s", True
    ),
}


@pytest.mark.parametrize("name", SETUP)
async def test_a_setup_fault_at_start(name: str, caplog: pytest.LogCaptureFixture) -> None:
    """At Start the user is there: the sentence at once, no retry behind their back."""
    case = SETUP[name]
    peers_before = open_peers()
    async with serving(api_key=TEST_KEY, faults=case.faults) as srv:
        bridge = Bridge(recovery=QUICK, signaling_timeout_s=1.0)
        bridge.start(target(srv.base_url), session())
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=15)
        assert case.sees in snap.problem, snap.problem
        assert snap.recovery is None and snap.turns == ()
        await no_leaks(bridge, srv, peers_before)
        srv.options.faults = Faults()
        async with call(srv.base_url, bridge) as (_, _leg):
            snap = await until(bridge, lambda s: s.status == CONNECTED)
            assert snap.problem is None
        await no_leaks(bridge, srv, peers_before)
    assert tracebacks(caplog) == []


@pytest.mark.parametrize("name", SETUP)
async def test_a_setup_fault_while_recovering(name: str, caplog: pytest.LogCaptureFixture) -> None:
    case = SETUP[name]
    peers_before = open_peers()
    async with serving(api_key=TEST_KEY, faults=Faults(drop_after_s=5.0)) as srv:
        bridge = Bridge(recovery=QUICK, signaling_timeout_s=1.0)
        async with call(srv.base_url, bridge) as (_, leg):
            first = await until(bridge, lambda s: s.status == CONNECTED)
            srv.options.faults = case.faults  # every attempt to carry the call meets it
            leg.speak(silence(55.0))
            before = await reply(bridge, "tell me about the weather", 1)
            kept = [(t.role, t.text) for t in before.turns if t.final]
            attempts: set[int] = set()

            def settled(s) -> bool:
                if s.recovery is not None:
                    attempts.add(s.recovery.attempt)
                    if s.recovery.attempt >= 2:
                        srv.options.faults = Faults()  # the first attempt failed: heal
                if case.transient:
                    return s.status == CONNECTED and s.call_id != first.call_id
                return s.status == ERROR

            after = await until(bridge, settled, timeout=45, what="the end of the recovery")
            assert [(t.role, t.text) for t in after.turns if t.final] == kept
            if case.transient:
                assert {1, 2} <= attempts and after.problem is None
                await reply(bridge, "and tomorrow", 2)
            else:
                assert attempts == {1}, attempts  # one attempt met it, and none followed
                assert case.sees in after.problem, after.problem
                await asyncio.sleep(1.5)
                assert bridge.snapshot().status == ERROR and not srv.calls
        await no_leaks(bridge, srv, peers_before)
    assert tracebacks(caplog) == []


async def test_no_server_and_ice_that_never_completes(caplog: pytest.LogCaptureFixture) -> None:
    peers_before = open_peers()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    bridge = Bridge(recovery=QUICK, session_created_timeout_s=4.0)
    bridge.start(target(f"http://127.0.0.1:{closed_port}/v1"), session())
    snap = await until(bridge, lambda s: s.status == ERROR, timeout=15)
    assert snap.problem == (
        f"Could not connect to http://127.0.0.1:{closed_port}/v1: is the server running and "
        "the URL right?"
    )
    async with serving(api_key=TEST_KEY, faults=Faults(ice_unreachable=True)) as srv:
        leg = BrowserLeg(bridge)
        await leg.connect()
        bridge.start(target(srv.base_url), session())
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=20)
        assert snap.problem.startswith("The media connection to the Realtime service is stuck")
        assert "UDP is probably blocked" in snap.problem
        await leg.close()
        await no_leaks(bridge, srv, peers_before)
    assert tracebacks(caplog) == []
