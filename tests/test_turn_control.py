"""Turn control through the bridge against the real local server: Interrupt, Respond now,
and push-to-talk with turn detection off."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.browser_leg import until
from tests.speech import phrase
from tests.test_bridge import WEATHER, assistants, call, users, words
from voicelab.audio import WEBRTC_RATE
from voicelab.bridge import CONNECTED, Bridge, BridgeError


async def test_interrupt_stops_the_voice_at_the_page_and_keeps_the_call(server):
    async with call(server.base_url) as (bridge, leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        await asyncio.to_thread(bridge.send_text, "please tell me a long story about the ocean")
        output = bridge.output_track()
        await until(bridge, lambda s: output.forwarded_samples > WEBRTC_RATE // 2)
        await asyncio.to_thread(bridge.interrupt)
        stopped_at = time.monotonic()
        snap = await until(
            bridge, lambda s: any(t.status == "interrupted" for t in assistants(s)), timeout=5
        )
        await asyncio.sleep(1.5)
        assert not leg.loud_frames(since=stopped_at + 0.3), "the voice went on after Interrupt"
        assert snap.status == CONNECTED and not snap.errors
        # with nothing playing, Interrupt is harmless: no cancel is sent, no error comes back
        await asyncio.to_thread(bridge.interrupt)
        await asyncio.sleep(0.5)
        assert not bridge.snapshot().errors


async def test_respond_now_answers_when_the_server_would_not(server):
    async with call(server.base_url, create_response=False) as (bridge, leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        leg.speak(phrase(WEATHER, tail_s=1.5))
        await until(bridge, lambda s: any(t.final for t in users(s)), timeout=15)
        await asyncio.sleep(1.0)
        assert not assistants(bridge.snapshot()), "create_response is off: no reply yet"
        await asyncio.to_thread(bridge.respond_now)
        snap = await until(bridge, lambda s: any(t.final for t in assistants(s)), timeout=15)
        assert len(words(snap.turns[-1].text) & words(WEATHER)) >= 2


async def test_push_to_talk_commits_the_turn_on_send(server):
    async with call(server.base_url, turn_detection="off") as (bridge, leg):
        snap = await until(bridge, lambda s: s.status == CONNECTED)
        assert snap.session["audio"]["input"]["turn_detection"] is None
        await asyncio.to_thread(bridge.talk_start)
        leg.speak(phrase(WEATHER, tail_s=0.5))
        await asyncio.sleep(4.0)
        assert not bridge.snapshot().turns, "with turn detection off nothing happens by itself"
        await asyncio.to_thread(bridge.talk_send)
        snap = await until(
            bridge,
            lambda s: any(t.final for t in users(s)) and any(t.final for t in assistants(s)),
            timeout=20,
        )
        assert len(words(users(snap)[0].text) & words(WEATHER)) >= 2


def test_turn_control_before_start_is_a_sentence():
    bridge = Bridge()
    for intent in (bridge.interrupt, bridge.respond_now, bridge.talk_start, bridge.talk_send):
        with pytest.raises(BridgeError, match="Start the call first"):
            intent()


async def test_half_duplex_mutes_the_microphone_while_the_model_speaks(server):
    bridge = Bridge()
    bridge.half_duplex = True
    async with call(server.base_url, bridge) as (_, leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        await asyncio.to_thread(bridge.send_text, "please tell me a long story about the ocean")
        output = bridge.output_track()
        await until(bridge, lambda s: output.forwarded_samples > WEBRTC_RATE // 2)
        leg.speak(phrase(WEATHER, lead_s=0.1))  # the speakers' echo, or the user: muted
        snap = await until(bridge, lambda s: any(t.final for t in assistants(s)), timeout=20)
        assert [t.status for t in assistants(snap)] == ["done"], "the reply was interrupted"
        assert len(users(snap)) == 1  # only the typed message
        assert bridge.snapshot().status == CONNECTED
