"""The bridge end to end on loopback: a browser leg built from streamlit-webrtc's own sink and
PCM source, the bridge on its own thread, and the real local server, all real WebRTC."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.browser_leg import BrowserLeg, until
from tests.conftest import TEST_KEY, serving
from tests.http_stub import http_stub
from tests.speech import WEATHER, WEATHER_WORDS, phrase, silence
from voicelab.call import CONNECTED, ERROR, IDLE, Bridge, BridgeError, Target
from voicelab.call.recovery import RecoveryPolicy
from voicelab.local import Faults
from voicelab.media.frames import WEBRTC_RATE
from voicelab.protocol.session import SessionConfig


def target(base_url: str, key: str = TEST_KEY) -> Target:
    return Target(base_url, key, "local")


def session(**changes) -> SessionConfig:
    return SessionConfig(**changes)


@contextlib.asynccontextmanager
async def call(base_url: str, bridge: Bridge | None = None, **config) -> AsyncIterator:
    bridge = bridge or Bridge()
    leg = BrowserLeg(bridge)
    await leg.connect()
    bridge.start(target(base_url), session(**config))
    try:
        yield bridge, leg
    finally:
        await asyncio.to_thread(bridge.stop, 10.0)
        await leg.close()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def users(snap):
    return [t for t in snap.turns if t.role == "user"]


def assistants(snap):
    return [t for t in snap.turns if t.role == "assistant"]


async def test_speech_in_transcript_out_and_reply_audio_back(server):
    async with call(server.base_url) as (bridge, leg):
        snap = await until(bridge, lambda s: s.status == CONNECTED, what="connected")
        assert snap.call_id in server.calls
        assert snap.connect_ms is not None and snap.connect_ms < 10_000
        assert snap.session["audio"]["input"]["transcription"]["model"] == (
            "gpt-4o-mini-transcribe"
        )
        started = asyncio.get_running_loop().time()
        leg.speak(phrase(WEATHER, lead_s=0.5, tail_s=2.0))

        snap = await until(
            bridge,
            lambda s: any(t.final for t in users(s)) and any(t.final for t in assistants(s)),
            timeout=25,
            what="both turns final",
        )
        user, reply = users(snap)[0], assistants(snap)[0]
        assert snap.turns.index(user) < snap.turns.index(reply)
        assert len(words(user.text) & WEATHER_WORDS) >= 2, user.text
        assert len(words(reply.text) & WEATHER_WORDS) >= 2, reply.text  # it quotes what it heard
        await asyncio.sleep(1.0)
        loud = leg.loud_frames(since=started)
        assert len(loud) * 0.02 > 1.0, f"only {len(loud)} audible frames reached the page"
        output = bridge.output_track()
        assert output.forwarded_samples > WEBRTC_RATE  # the voice went out as it arrived
        assert snap.problem is None and not snap.errors


async def test_typed_message_goes_into_the_same_call(server):
    async with call(server.base_url) as (bridge, _leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        with pytest.raises(BridgeError, match="Type a message"):
            bridge.send_text("   ")
        await asyncio.to_thread(bridge.send_text, "tell me about the weather")
        snap = await until(
            bridge, lambda s: any(t.final for t in assistants(s)), what="a reply to the text"
        )
        user, reply = snap.turns[0], snap.turns[1]
        assert (user.role, user.text, user.status) == ("user", "tell me about the weather", "done")
        assert reply.role == "assistant" and "weather" in reply.text.lower()
        assert len(server.calls) == 1


async def test_text_before_start_is_refused_with_a_reason():
    with pytest.raises(BridgeError, match="Start the call first"):
        Bridge().send_text("hello")


async def test_stop_hangs_up_and_leaves_no_thread_or_call(server):
    bridge = Bridge()
    async with call(server.base_url, bridge) as (_, _leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        await asyncio.to_thread(bridge.send_text, "hello")
        await until(bridge, lambda s: any(t.final for t in assistants(s)))
        assert len(bridge.threads()) == 1
        output = bridge.output_track()
    # call() stopped the bridge with a 10 s join
    assert bridge.threads() == []
    assert output.readyState == "ended", "the playback track would be pulled forever"
    assert bridge.output_track() is not output and bridge.output_track().readyState == "live"
    await asyncio.sleep(0.2)
    assert server.calls == {}
    snap = bridge.snapshot()
    assert snap.status == IDLE and snap.problem is None
    assert [t.role for t in snap.turns] == ["user", "assistant"], "transcript kept after Stop"


async def test_a_reply_cut_off_by_stop_is_marked_interrupted():
    async with serving(api_key=TEST_KEY, faults=Faults(synth_delay_s=5.0)) as slow:
        bridge = Bridge()
        async with call(slow.base_url, bridge) as (_, _leg):
            await until(bridge, lambda s: s.status == CONNECTED)
            await asyncio.to_thread(bridge.send_text, "tell me about the weather")
            await until(
                bridge,
                lambda s: any(t.status == "streaming" for t in assistants(s)),
                what="an answer under way",
            )
        # call() pressed Stop while the answer was still coming
        reply = assistants(bridge.snapshot())[0]
        assert reply.status == "interrupted", reply
        assert all(t.final for t in bridge.snapshot().turns)


async def test_end_of_the_browser_leg_hangs_up(server):
    bridge = Bridge()
    leg = BrowserLeg(bridge)
    await leg.connect()
    bridge.start(target(server.base_url), session())
    # A live leg: its audio reaches the call (a leg that never sends is the next tests').
    await until(bridge, lambda s: s.status == CONNECTED and s.mic_frames > 0)
    await leg.page.close()  # the tab goes away: the sink's track ends, on_ended fires
    await until(bridge, lambda s: not bridge.active, timeout=10, what="bridge stopped")
    for _ in range(100):
        if not server.calls and not bridge.threads():
            break
        await asyncio.sleep(0.1)
    assert server.calls == {} and bridge.threads() == []
    await leg.close()


async def test_a_silent_browser_ends_the_call(server):
    bridge = Bridge(browser_silence_s=1.0)
    async with call(server.base_url, bridge) as (_, leg):
        await until(bridge, lambda s: s.status == CONNECTED and s.mic_frames > 10)
        leg.page.getTransceivers()[0].sender.replaceTrack(None)  # frames stop, no BYE
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=10)
        assert "sent no audio for 1 s" in snap.problem
        for _ in range(50):
            if not server.calls:
                break
            await asyncio.sleep(0.1)
        assert server.calls == {}


async def test_a_browser_leg_that_never_sends_audio_does_not_keep_the_call(server):
    bridge = Bridge(browser_silence_s=1.0)
    bridge.start(target(server.base_url), session())  # no browser leg at all: a dead Start
    # The on_ended of an earlier leg, arriving late: this call has had no frame, so it is
    # not this call's leg that ended, and the call stays (the watchdog still ends it).
    bridge.on_browser_ended()
    await asyncio.sleep(0.5)  # on_ended decides after 0.3 s
    assert bridge.active
    snap = await until(bridge, lambda s: s.status == ERROR, timeout=10)
    assert "sent no audio for 1 s" in snap.problem
    for _ in range(50):
        if not server.calls and not bridge.threads():
            break
        await asyncio.sleep(0.1)
    assert server.calls == {} and bridge.threads() == []


async def test_garbage_from_the_server_is_reported_and_the_call_goes_on():
    async with (
        serving(faults=Faults(malformed_every=3)) as srv,
        call(srv.base_url) as (
            bridge,
            _leg,
        ),
    ):
        await until(bridge, lambda s: s.status == CONNECTED)
        await asyncio.to_thread(bridge.send_text, "tell me about the weather")
        snap = await until(bridge, lambda s: any(t.final for t in assistants(s)), timeout=20)
        assert "The server sent a message that is not a valid event; ignored it." in snap.errors
        assert snap.status == CONNECTED and snap.problem is None


async def test_speech_over_the_reply_flushes_playback(server):
    async with call(server.base_url) as (bridge, leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        asked = time.monotonic()
        await asyncio.to_thread(bridge.send_text, "please tell me a long story about the ocean")
        output = bridge.output_track()
        await until(bridge, lambda s: len(leg.loud_frames(since=asked)) >= 25, what="0.5 s heard")
        spoke_at = time.monotonic()
        leg.speak(phrase(WEATHER, lead_s=0.1, tail_s=0.5))
        snap = await until(
            bridge,
            lambda s: any(t.status == "interrupted" for t in assistants(s)),
            what="the reply marked interrupted",
        )
        assert output.queued_frames <= 2
        # The model's voice stopped at the page while the user was still talking (the
        # phrase lasts about 2.6 s; a new reply can only start after it ends).
        await asyncio.sleep(max(0.0, spoke_at + 2.5 - time.monotonic()))
        assert leg.loud_frames(since=spoke_at + 0.1), "the reply was playing when speech began"
        late = leg.loud_frames(since=spoke_at + 1.0)
        assert not [r for r in late if r.at < spoke_at + 2.5], "model audio kept playing"
        assert snap.problem is None


# --- every signaling failure reaches the page as its sentence ---------------------------


@contextlib.asynccontextmanager
async def stub(status: int, body: str, content_type: str, delay_s: float = 0.0):
    """An endpoint that answers every call setup the same way; yields its base URL."""

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        return web.Response(status=status, text=body, content_type=content_type)

    async with http_stub("/v1/realtime/calls", answer) as url:
        yield f"{url}/v1"


def error_body(message: str, code: str) -> str:
    return f'{{"error": {{"message": "{message}", "type": "x", "param": null, "code": "{code}"}}}}'


STUB_CASES = {
    "401": (
        401,
        error_body("Incorrect API key provided.", "invalid_api_key"),
        "The API key was rejected (401)",
    ),
    "403": (
        403,
        error_body("Not allowed.", "forbidden"),
        "may not use the Realtime API (403): Not allowed.",
    ),
    "404": (404, error_body("No such route.", "not_found"), "endpoint was not found (404)"),
    "429": (429, error_body("Slow down.", "rate_limit_exceeded"), "Rate limited (429): Slow down."),
    "400": (
        400,
        error_body("Unknown parameter: 'session.temperature'.", "unknown_parameter"),
        "refused the call setup (400): Unknown parameter: 'session.temperature'.",
    ),
    "500": (500, "<html>oops</html>", "The Realtime service failed (500)."),
    "503": (
        503,
        error_body("Overloaded.", "overloaded"),
        "The Realtime service failed (503): Overloaded.",
    ),
    "not sdp": (201, '{"hello": "world"}', "answered with something that is not an SDP answer"),
}


@pytest.mark.parametrize("case", STUB_CASES)
async def test_each_signaling_failure_shows_its_sentence_then_start_works(case, server):
    status, body, expected = STUB_CASES[case]
    bridge = Bridge()
    ctype = "application/json" if body.startswith("{") else "text/html"
    async with stub(status, body, ctype) as url:
        bridge.start(target(url), session())
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=10)
    assert expected in snap.problem
    assert TEST_KEY not in snap.problem
    for _ in range(50):
        if not bridge.threads():
            break
        await asyncio.sleep(0.05)
    assert bridge.threads() == []
    # the app keeps working: the next Start connects
    async with call(server.base_url, bridge) as (_, _leg):
        snap = await until(bridge, lambda s: s.status == CONNECTED)
        assert snap.problem is None


async def test_timeout_and_refused_connection_show_their_sentences():
    bridge = Bridge(signaling_timeout_s=0.5)
    async with stub(201, "v=0\r\n", "application/sdp", delay_s=3.0) as url:
        bridge.start(target(url), session())
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=10)
        assert snap.problem == "The Realtime service did not answer within 0.5 s. Try again."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bridge.start(target(f"http://127.0.0.1:{port}/v1"), session())
    snap = await until(bridge, lambda s: s.status == ERROR, timeout=10)
    assert snap.problem.startswith(f"Could not connect to http://127.0.0.1:{port}/v1")
    await asyncio.to_thread(bridge.stop, 5.0)
    assert bridge.threads() == []


async def test_wrong_key_on_the_real_server_and_injected_faults():
    async with serving(api_key=TEST_KEY) as srv:
        bridge = Bridge()
        bridge.start(target(srv.base_url, "wrong-key"), session())
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=10)
        assert snap.problem.startswith("The API key was rejected (401)")
        assert "wrong-key" not in snap.problem
    async with serving(faults=Faults(sdp_status=429)) as srv:
        bridge.start(target(srv.base_url), session())
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=10)
        assert snap.problem.startswith("Rate limited (429): Rate limit reached")
    await asyncio.to_thread(bridge.stop, 5.0)


async def test_a_server_that_keeps_vanishing_is_given_up_on_after_its_attempts():
    async with serving(faults=Faults(drop_after_s=1.0)) as srv:  # every call's peer goes
        bridge = Bridge(recovery=RecoveryPolicy(attempts=2, first_delay_s=0.1))
        async with call(srv.base_url, bridge) as (_, leg):
            await until(bridge, lambda s: s.status == CONNECTED)
            leg.speak(silence(30.0))
            attempts: set[int] = set()

            def ended(s) -> bool:
                if s.recovery is not None:
                    attempts.add(s.recovery.attempt)
                return s.status == ERROR

            snap = await until(bridge, ended, timeout=45)
            assert snap.problem == (
                "The connection to the Realtime service was lost and 2 attempts to "
                "reconnect failed; press Start."
            )
            assert attempts == {1, 2} and snap.recovery is None
            await asyncio.sleep(1.0)
            assert not srv.calls and len(bridge.threads()) <= 1  # the last one is ending


async def test_a_lost_upstream_is_called_again_with_the_conversation():
    async with serving(api_key=TEST_KEY, faults=Faults(drop_after_s=3.0)) as srv:
        bridge = Bridge()
        async with call(srv.base_url, bridge) as (_, leg):
            first = await until(bridge, lambda s: s.status == CONNECTED)
            srv.options.faults = Faults()  # only the first call's peer vanishes
            await asyncio.to_thread(bridge.send_text, "tell me about the weather")
            await until(bridge, lambda s: any(t.final for t in assistants(s)))
            leg.speak(silence(60.0))  # a live microphone: only the upstream goes
            seen: list[str] = []

            def back(s) -> bool:
                if s.recovery is not None:
                    seen.append(s.recovery.words)
                return s.status == CONNECTED and s.call_id != first.call_id

            again = await until(bridge, back, timeout=60, what="a new upstream call")
            assert seen and seen[0] == "Reconnecting (1 of 5)…", seen  # the page saw it
            assert again.recovery is None and again.problem is None
            assert [(t.role, t.status) for t in again.turns] == [
                ("user", "done"),
                ("assistant", "done"),
            ], again.turns  # every turn once
            assert list(srv.calls) == [again.call_id]
            # The new call has the context: the carried items went in before anything else.
            carried = [
                e.event for e in bridge.events("conversation.item.create") if e.direction == "sent"
            ]
            assert [c["item"]["role"] for c in carried] == ["user", "assistant"], carried
            await asyncio.to_thread(bridge.send_text, "and tomorrow")
            snap = await until(
                bridge, lambda s: sum(t.final for t in assistants(s)) == 2, what="a reply"
            )
            assert [t.role for t in snap.turns] == ["user", "assistant", "user", "assistant"]


async def test_a_refused_key_on_reconnecting_is_not_retried():
    async with serving(api_key=TEST_KEY, faults=Faults(drop_after_s=2.0)) as srv:
        bridge = Bridge()
        async with call(srv.base_url, bridge) as (_, leg):
            await until(bridge, lambda s: s.status == CONNECTED)
            srv.options.faults = Faults(sdp_status=401)  # from now on: the key is refused
            leg.speak(silence(60.0))
            snap = await until(bridge, lambda s: s.status == ERROR, timeout=60)
            assert "The API key was rejected (401)" in snap.problem, snap.problem
            assert snap.recovery is None
            await asyncio.sleep(2.0)  # and nothing more is tried
            assert bridge.snapshot().status == ERROR and not srv.calls


async def test_stop_while_connecting_hangs_up_the_late_call():
    async with serving(faults=Faults(sdp_delay_s=1.0)) as srv:
        bridge = Bridge()
        bridge.start(target(srv.base_url), session())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(bridge.stop, 10.0)
        assert bridge.threads() == []
        await asyncio.sleep(0.3)
        assert srv.calls == {}
        assert bridge.snapshot().status == IDLE
