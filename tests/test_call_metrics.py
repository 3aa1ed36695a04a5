"""What the page shows of a call, measured on real loopback calls against the local server:
voice-to-voice latency in its stages, the VAD timeline on the uplink's clock, usage and
cost, and the spend cap."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser_leg import until
from tests.speech import WEATHER, phrase
from tests.test_bridge import assistants, call
from voicelab.call import CONNECTED, ERROR, Bridge
from voicelab.call.problems import over_spend_cap
from voicelab.media.level_ring import AUDIBLE_DBFS
from voicelab.pricing import PriceTable, Tokens, prices
from voicelab.protocol.local_vad import threshold_dbfs
from voicelab.protocol.session import SessionConfig

_RATES = ("audio_in", "cached_audio_in", "audio_out", "text_in", "cached_text_in", "text_out")


def answered(snap) -> bool:
    return bool(snap.latency) and snap.latency[-1].first_audio_out is not None


async def test_a_spoken_turn_has_its_stages_in_order_and_the_page_agrees(server):
    async with call(server.base_url) as (bridge, leg):
        await until(bridge, lambda s: s.status == CONNECTED, what="connected")
        leg.speak(phrase(WEATHER, lead_s=0.5, tail_s=3.0))
        snap = await until(bridge, answered, timeout=30, what="the answer heard")
        turn = snap.latency[-1]
        order = [
            turn.last_audible,
            turn.speech_stopped,
            turn.response_created,
            turn.first_audio_in,
            turn.first_audio_out,
        ]
        assert None not in order and order == sorted(order), turn
        assert all(v is not None and v >= 0 for v in turn.stages_ms().values())

        # The same interval at the page's own peer: its last loud frame sent before the
        # server said stop, to the first loud frame of the answer it received.
        await asyncio.sleep(0.5)  # the answer's first frames through the page's jitter buffer
        spoke = [
            r.at for r in leg.mic.sent if r.dbfs >= AUDIBLE_DBFS and r.at <= turn.speech_stopped
        ]
        heard = [
            r.at for r in leg.heard if r.dbfs >= AUDIBLE_DBFS and r.at >= turn.response_created
        ]
        page_ms = (heard[0] - spoke[-1]) * 1000
        print(
            f"voice to voice: bridge {turn.voice_to_voice_ms} ms, page {page_ms:.0f} ms; up {(turn.last_audible - spoke[-1]) * 1000:.0f} ms, down {(heard[0] - turn.first_audio_out) * 1000:.0f} ms"
        )
        assert turn.voice_to_voice_ms == pytest.approx(page_ms, abs=60)

        # The reply carries its latency and its usage.
        reply = assistants(snap)[-1]
        assert snap.latency_of_reply(reply.item_id) == turn
        await until(bridge, lambda s: s.usage_of_item(reply.item_id), what="usage of the reply")

        # The timeline: the server's speech span, on the uplink's clock, covers the phrase
        # the bridge sent, from prefix padding before it to the silence after it.
        meters = bridge.meters(60.0)
        loud = meters.uplink.times[meters.uplink.dbfs >= AUDIBLE_DBFS]
        speech = [s for s in meters.spans if s.kind == "speech" and s.end is not None]
        assert len(speech) == 1, meters.spans
        span = speech[0]
        print(f"speech span {span.start - loud[0]:+.3f} s … {span.end - loud[-1]:+.3f} s")
        assert loud[0] - 0.45 <= span.start <= loud[0] + 0.1
        assert loud[-1] + 0.3 <= span.end <= loud[-1] + 0.75  # silence_duration_ms 500
        responses = [s for s in meters.spans if s.kind == "response"]
        assert responses and responses[0].start >= span.end
        assert meters.threshold_dbfs == pytest.approx(threshold_dbfs(0.5))

        # Usage: the call's totals are the sum of the server's response.done usage, and
        # the local backend's tokens are free.
        done = [e.event["response"]["usage"] for e in bridge.events("response.done")]
        snap = bridge.snapshot()
        total = Tokens()
        for usage in done:
            total = total + Tokens.of(usage)
        assert snap.usage.tokens == total and total.audio_in > 0 and total.audio_out > 0
        assert snap.usage.responses == len(done)
        assert snap.usage.cost_usd == 0.0
        assert snap.usage.priced_as_of == prices().as_of


async def test_a_threshold_change_moves_what_the_server_counts_as_speech(server):
    """Quiet speech (-40 dBFS) is speech at threshold 0.5 (needs -47.5 dBFS) and is not at
    0.9 (needs -33.5 dBFS); loud speech still is."""
    async with call(server.base_url) as (bridge, leg):
        await until(bridge, lambda s: s.status == CONNECTED, what="connected")

        def spans() -> list:
            return [s for s in bridge.meters(120.0).spans if s.kind == "speech"]

        leg.speak(phrase(WEATHER, dbfs=-40.0, lead_s=0.3, tail_s=1.0))
        await until(bridge, lambda s: len(spans()) == 1 and spans()[0].end, what="a span")
        await until(bridge, lambda s: s.responses, timeout=30, what="the answer")
        await asyncio.sleep(1.0)

        bridge.apply_settings(SessionConfig(threshold=0.9))
        await until(
            bridge,
            lambda s: bridge.meters().threshold_dbfs == pytest.approx(threshold_dbfs(0.9)),
            what="the new threshold in force",
        )
        leg.speak(phrase(WEATHER, dbfs=-40.0, lead_s=0.3, tail_s=1.5))
        await asyncio.sleep(4.5)
        assert len(spans()) == 1, "quiet speech counted at 0.9"

        leg.speak(phrase(WEATHER, dbfs=-20.0, lead_s=0.3, tail_s=1.0))
        await until(bridge, lambda s: len(spans()) == 2, what="loud speech counted at 0.9")


async def test_a_low_spend_cap_ends_the_call_after_the_response_that_crossed_it(server):
    table = prices()
    dear = {r: 100.0 for r in _RATES}  # the local backend priced, so it costs something
    priced = PriceTable(table.as_of, "test", table.models, {"local": dear})
    bridge = Bridge(prices=priced)
    bridge.spend_cap_usd = 0.001
    async with call(server.base_url, bridge) as (bridge, _leg):
        await until(bridge, lambda s: s.status == CONNECTED, what="connected")
        await asyncio.to_thread(bridge.send_text, "hello there")
        snap = await until(bridge, lambda s: s.status == ERROR, timeout=30, what="the cap")
        done = [e.event["response"] for e in bridge.events("response.done")]
        assert len(done) == 1
        spent = priced.cost("local", None, Tokens.of(done[0]["usage"]))
        assert spent is not None and spent > 0.001
        assert snap.usage.cost_usd == pytest.approx(spent)
        assert snap.problem == over_spend_cap(spent, 0.001)
        assert assistants(snap) and assistants(snap)[-1].text  # the answer is kept
        await until(bridge, lambda s: not bridge.threads(), what="the call thread gone")


def test_the_browser_leg_allowance_is_the_pinned_aiortc_jitter_buffer():
    """``BROWSER_BUFFER_MS`` is four 20 ms packets because aiortc's audio receiver holds
    four; an aiortc that holds another number must move the allowance with it."""
    import inspect

    import aiortc.rtcrtpreceiver

    from voicelab.observers.latency import BROWSER_BUFFER_MS

    assert "JitterBuffer(capacity=16, prefetch=4)" in inspect.getsource(aiortc.rtcrtpreceiver)
    assert BROWSER_BUFFER_MS == 4 * 20
