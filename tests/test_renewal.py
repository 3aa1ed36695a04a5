"""The hour cap on loopback: a local server whose calls last 16 seconds, and a bridge that
renews the session before that, between turns, with the conversation carried."""

from __future__ import annotations

import asyncio
import time

from tests.browser_leg import until
from tests.conftest import TEST_KEY, serving
from tests.speech import silence
from tests.test_bridge import assistants, call
from voicelab.call import CONNECTED, Bridge
from voicelab.call.renewal import DEFAULT_MAX_CALL_S, RenewalPolicy, expires_at

MAX_CALL_S = 16.0


def test_the_cap_comes_from_the_session_or_is_the_hour() -> None:
    now = 1_000_000.0
    assert expires_at({"expires_at": int(now) + 900}, now) == int(now) + 900
    for said in (None, 0, "soon", True, now - 5, now + DEFAULT_MAX_CALL_S + 60):
        assert expires_at({"expires_at": said}, now) == now + DEFAULT_MAX_CALL_S, said
    assert expires_at(None, now) == now + DEFAULT_MAX_CALL_S
    policy = RenewalPolicy(lead_s=90, countdown_s=300, force_s=3)
    assert policy.opens_at(now, now + 3600) == now + 3510
    assert policy.opens_at(now, now + 20) == now + 10  # a short session: halfway
    assert policy.counting_down(now + 3600, now) is None
    assert policy.counting_down(now + 299, now) == 299
    assert policy.counting_down(now - 1, now) == 0.0
    assert not policy.must_switch(now + 4, now) and policy.must_switch(now + 3, now)


async def test_a_short_session_is_renewed_between_turns_with_the_context() -> None:
    async with serving(api_key=TEST_KEY, max_call_s=MAX_CALL_S) as srv:
        bridge = Bridge(renewal=RenewalPolicy(lead_s=8.0, force_s=2.0))
        async with call(srv.base_url, bridge) as (_, leg):
            first = await until(bridge, lambda s: s.status == CONNECTED)
            assert first.expires_at is not None
            assert MAX_CALL_S - 2 < first.expires_at - time.time() <= MAX_CALL_S
            leg.speak(silence(60.0))
            await asyncio.to_thread(bridge.send_text, "tell me about the weather")
            await until(bridge, lambda s: any(t.final for t in assistants(s)), what="a reply")

            # Ask again the moment the next call starts opening: the switch must wait for
            # this answer to be over, however soon the next call is up.
            await until(bridge, lambda s: s.renewing, timeout=MAX_CALL_S, what="renewing")
            await asyncio.to_thread(bridge.send_text, "and tomorrow")
            statuses: list[str] = []
            old_events: list = []

            def switched(s) -> bool:
                statuses.append(s.status)
                if s.call_id == first.call_id:
                    old_events[:] = bridge.events()
                return s.call_id != first.call_id

            after = await until(bridge, switched, timeout=MAX_CALL_S, what="the next call")
            assert set(statuses) == {CONNECTED}, statuses  # the page never saw it drop
            assert after.problem is None and not after.renewing
            assert time.time() < first.expires_at  # before the cap, not after it
            assert [(t.role, t.status) for t in after.turns] == [
                ("user", "done"),
                ("assistant", "done"),
                ("user", "done"),
                ("assistant", "done"),
            ], after.turns  # every turn once, and no answer cut

            # The old call heard no cut and no server-side end; it hung up on its own.
            kinds = [(e.direction, e.event["type"]) for e in old_events]
            assert ("sent", "conversation.item.truncate") not in kinds
            assert ("sent", "response.cancel") not in kinds
            assert not [e for e in old_events if e.event.get("type") == "error"], old_events
            await asyncio.sleep(1.0)
            assert list(srv.calls) == [after.call_id]

            # The new call carries the whole conversation, and it goes on there.
            carried = [
                e.event["item"]["role"]
                for e in bridge.events("conversation.item.create")
                if e.direction == "sent"
            ]
            assert carried == ["user", "assistant", "user", "assistant"], carried
            await asyncio.to_thread(bridge.send_text, "and the day after")
            snap = await until(
                bridge, lambda s: sum(t.final for t in assistants(s)) == 3, what="a third reply"
            )
            assert snap.call_id == after.call_id and snap.expires_at > first.expires_at
