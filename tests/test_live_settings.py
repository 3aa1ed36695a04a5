"""Changing settings during a call: the pure bookkeeping, then the bridge against the real
local server (the exact update sent, and the behaviour it changes)."""

from __future__ import annotations

import asyncio
import time

from tests.browser_leg import until
from tests.speech import phrase
from tests.test_bridge import assistants, call, session, target, users
from tests.test_controls import vad
from voicelab.call import CONNECTED, CONNECTING, Bridge
from voicelab.observers.live_settings import APPLIED, PENDING, RECONNECT, REFUSED, LiveSettings
from voicelab.observers.responses import ResponseState
from voicelab.protocol.defaults import DEFAULT_TEMPERATURE
from voicelab.protocol.session import SessionConfig, session_changes

BASE = SessionConfig()
STORY = "please tell me a long story about the ocean"


def test_an_update_carries_only_what_changed():
    assert session_changes(BASE, BASE.replace(speed=1.2), "local") == {
        "type": "realtime",
        "audio": {"output": {"speed": 1.2}},
    }
    update = session_changes(
        BASE, BASE.replace(eagerness="high", turn_detection="semantic_vad"), "local"
    )
    assert update["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    assert session_changes(BASE.replace(instructions="Be brief."), BASE, "local") == {
        "type": "realtime",
        "instructions": "",
    }
    assert session_changes(BASE, BASE.replace(temperature=0.2), "openai") == {}  # never sent
    assert session_changes(BASE, BASE.replace(temperature=0.2), "local") == {
        "type": "realtime",
        "temperature": 0.2,
    }
    # a cleared temperature goes back to the backend's default, never silently stays
    assert session_changes(BASE.replace(temperature=0.2), BASE, "local") == {
        "type": "realtime",
        "temperature": DEFAULT_TEMPERATURE,
    }
    assert session_changes(BASE.replace(temperature=0.2), BASE, "openai") == {}


CREATED = {"type": "session.created", "session": {}}
CONFIRMED = {"type": "session.updated", "session": {}}


def refusal(update: dict, message: str = "No.") -> dict:
    return {"type": "error", "error": {"message": message, "code": "nope",
            "event_id": update["event_id"]}}  # fmt: skip


def hear(live: LiveSettings, event: dict):
    """A server event, as the call's stream feeds it (the response state first); returns
    the update that became due, if any."""
    live.responses.observe("received", event)
    live.observe("received", event)
    return live.take_due()


def settings(started_with: SessionConfig = BASE, backend: str = "local") -> LiveSettings:
    return LiveSettings(started_with, backend, ResponseState())


def live_call(started_with: SessionConfig = BASE) -> LiveSettings:
    live = settings(started_with)
    assert hear(live, CREATED) is None  # nothing was waiting
    return live


def test_pending_then_applied_then_refused():
    live = live_call()
    first = live.want(BASE.replace(threshold=0.8))
    assert first["type"] == "session.update" and first["event_id"].startswith("voicelab_")
    assert first["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.8
    assert live.status().fields == {"threshold": PENDING}
    assert hear(live, CONFIRMED) is None
    assert live.status().fields == {"threshold": APPLIED}
    assert live.status().applied.threshold == 0.8
    assert live.want(BASE.replace(threshold=0.8)) is None  # nothing new to send

    second = live.want(BASE.replace(threshold=0.8, speed=1.4))
    hear(live, refusal(second))
    status = live.status()
    assert status.fields == {"threshold": APPLIED, "speed": REFUSED}
    assert status.refusal == "No. (nope)" and status.refused_fields == ("speed",)
    assert status.applied.speed == 1.0  # the effective value stays
    # A change already on its way (a debounce timer holding the sidebar as it was before
    # the page put the control back) does not resend the refused value with it.
    stale = live.want(BASE.replace(threshold=0.7, speed=1.4))
    assert stale["session"] == vad(threshold=0.7)
    hear(live, CONFIRMED)
    assert live.status().fields == {"threshold": APPLIED, "speed": REFUSED}
    # once the page has put the control back, asking again for the value sends it again
    live.acknowledge_refusal(("speed",))
    again = live.want(BASE.replace(threshold=0.7, speed=1.4))
    assert again["session"] == {"type": "realtime", "audio": {"output": {"speed": 1.4}}}
    assert live.status().updates_sent == 4


def test_a_change_the_server_holds_nothing_of_is_not_left_pending():
    live = settings(BASE, "openai")
    hear(live, CREATED)
    in_flight = live.want(BASE.replace(speed=1.2))
    assert live.want(BASE.replace(speed=1.2, temperature=0.3, eagerness="high")) is None
    assert hear(live, CONFIRMED) is None  # nothing of that reaches an OpenAI session
    assert live.status().fields == {"speed": APPLIED}
    assert in_flight is not None and live.status().applied.temperature == 0.3


def test_a_speed_refused_because_an_answer_began_goes_again_after_it():
    live = live_call()
    sent = live.want(BASE.replace(speed=1.3))  # idle when it left …
    hear(live, {"type": "response.created", "response": {"id": "r"}})  # … server VAD
    assert hear(live, refusal(sent, "Cannot update speed during a response.")) is None
    assert live.status().fields == {"speed": PENDING} and live.status().refusal is None
    again = hear(live, {"type": "response.done", "response": {"id": "r"}})
    assert again["session"] == {"type": "realtime", "audio": {"output": {"speed": 1.3}}}


def test_an_error_about_something_else_changes_nothing():
    live = live_call()
    sent = live.want(BASE.replace(speed=1.2))
    hear(live, {"type": "error", "error": {"message": "x", "event_id": "someone_else"}})
    hear(live, {"type": "error", "error": "not even a dict"})
    assert live.status().fields == {"speed": PENDING} and live.status().refusal is None
    hear(live, CONFIRMED)
    assert live.status().applied.speed == 1.2 and sent is not None


def test_one_update_in_flight_and_what_changes_meanwhile_goes_next_as_one():
    live = live_call()
    first = live.want(BASE.replace(threshold=0.6))
    assert live.want(BASE.replace(threshold=0.6, speed=1.1)) is None  # waits for the answer
    assert live.want(BASE.replace(threshold=0.6, speed=1.2, voice="ash")) is None
    assert live.status().fields == {"threshold": PENDING, "speed": PENDING, "voice": PENDING}
    second = hear(live, CONFIRMED)  # the answer to the first: the next one goes now
    assert first["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.6
    assert second["session"] == {
        "type": "realtime",
        "audio": {"output": {"voice": "ash", "speed": 1.2}},
    }
    assert live.status().applied.threshold == 0.6 and live.status().applied.speed == 1.0
    assert hear(live, CONFIRMED) is None  # only one was waiting
    assert live.status().applied == BASE.replace(threshold=0.6, speed=1.2, voice="ash")
    assert hear(live, CONFIRMED) is None  # an unasked-for confirmation credits nothing
    assert live.status().applied == BASE.replace(threshold=0.6, speed=1.2, voice="ash")


def test_a_refusal_never_leaks_into_a_later_confirmation():
    live = live_call()
    refused = live.want(BASE.replace(speed=1.4))
    assert live.want(BASE.replace(speed=1.4, threshold=0.7)) is None  # waits
    following = hear(live, refusal(refused))
    # the refused speed is not re-sent by the update that waited; the threshold is
    assert following["session"] == vad(threshold=0.7)
    hear(live, CONFIRMED)
    status = live.status()
    assert status.applied.speed == 1.0 and status.applied.threshold == 0.7
    assert status.fields == {"speed": REFUSED, "threshold": APPLIED}


def test_a_refusal_is_acknowledged_only_for_the_fields_put_back():
    live = live_call()
    hear(live, refusal(live.want(BASE.replace(speed=1.4))))
    hear(live, refusal(live.want(BASE.replace(voice="ash")), "Voice locked."))
    live.acknowledge_refusal(("speed",))  # the page put back an older refusal
    assert live.status().refused_fields == ("voice",), "a newer refusal was dropped unseen"
    live.acknowledge_refusal(("voice",))
    assert live.status().refused_fields == ()


def test_speed_changed_during_an_answer_waits_for_its_end_and_the_rest_goes_now():
    live = live_call()
    hear(live, {"type": "response.created", "response": {"id": "r"}})
    now = live.want(BASE.replace(speed=1.3, threshold=0.7))
    assert now["session"] == vad(threshold=0.7)  # OpenAI refuses speed mid-response
    assert live.status().fields == {"speed": PENDING, "threshold": PENDING}
    assert hear(live, CONFIRMED) is None  # the answer is still running
    assert live.status().fields == {"speed": PENDING, "threshold": APPLIED}
    later = hear(live, {"type": "response.done", "response": {"id": "r"}})
    assert later["session"] == {"type": "realtime", "audio": {"output": {"speed": 1.3}}}
    hear(live, CONFIRMED)
    assert live.status().applied == BASE.replace(speed=1.3, threshold=0.7)


def test_settings_changed_before_the_call_is_up_go_out_once_it_is():
    live = settings()
    assert live.want(BASE.replace(speed=1.3)) is None  # no session.created yet
    assert live.status().fields == {"speed": PENDING}
    sent = hear(live, CREATED)
    assert sent["session"] == {"type": "realtime", "audio": {"output": {"speed": 1.3}}}


def test_model_and_a_heard_voice_need_a_reconnect_and_are_never_sent():
    live = live_call()
    assert live.want(BASE.replace(model="gpt-realtime-mini")) is None
    assert live.status().fields == {"model": RECONNECT}
    assert live.want(BASE) is None and live.status().fields == {}  # changed back
    sent = live.want(BASE.replace(voice="ash"))
    assert sent["session"] == {"type": "realtime", "audio": {"output": {"voice": "ash"}}}
    hear(live, CONFIRMED)
    hear(live, {"type": "output_audio_buffer.started", "response_id": "r"})
    assert live.want(BASE.replace(voice="coral", speed=1.2))["session"] == {
        "type": "realtime",
        "audio": {"output": {"speed": 1.2}},
    }
    assert live.status().fields["voice"] == RECONNECT


async def test_a_slider_drag_sends_one_update_and_the_threshold_changes_what_is_heard(server):
    bridge = Bridge(settings_debounce_s=0.3)
    async with call(server.base_url, bridge, threshold=0.3) as (_, leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        quiet = phrase("hello world, what is the weather like today", dbfs=-42.0, tail_s=1.5)
        leg.speak(quiet)
        await until(bridge, lambda s: len(users(s)) >= 1, timeout=15, what="quiet speech taken")
        await until(bridge, lambda s: any(t.final for t in assistants(s)), timeout=20)
        for value in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9):  # a drag: six values in 60 ms
            bridge.apply_settings(session(threshold=value))
            await asyncio.sleep(0.01)
        snap = await until(bridge, lambda s: s.live.fields.get("threshold") == APPLIED)
        assert snap.live.updates_sent == 1
        (sent,) = bridge.events("session.update")
        assert sent.event["session"] == vad(threshold=0.9)  # only the turn detection object
        assert snap.session["audio"]["input"]["turn_detection"]["threshold"] == 0.9
        await asyncio.sleep(3.0)  # let every turn of the first phrase and its reply finish
        heard = len(users(bridge.snapshot()))
        leg.speak(quiet)
        await asyncio.sleep(5.0)
        assert len(users(bridge.snapshot())) == heard, "0.9 took speech that only 0.3 should"
        assert bridge.snapshot().status == CONNECTED


async def test_a_refused_update_shows_the_servers_reason_and_keeps_the_effective_value(server):
    bridge = Bridge(settings_debounce_s=0.05)
    async with call(server.base_url, bridge) as (_, _leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        await asyncio.to_thread(bridge.send_text, "hello")
        await until(bridge, lambda s: any(t.final for t in assistants(s)))
        # The model has spoken, so the server locks the voice. Simulate the race where the
        # change leaves before we learned that, so the server is the one to refuse.
        bridge._running.call.live.audio_heard = False
        bridge.apply_settings(session(voice="shimmer"))
        snap = await until(bridge, lambda s: s.live.fields.get("voice") == REFUSED)
        assert "cannot_update_voice" in snap.live.refusal
        assert snap.live.applied.voice == "alloy"
        assert snap.session["audio"]["output"]["voice"] == "alloy"
        assert snap.status == CONNECTED and snap.problem is None


async def test_settings_changed_while_connecting_are_sent_once_the_call_is_up(server):
    bridge = Bridge(settings_debounce_s=0.05)
    async with call(server.base_url, bridge) as (_, _leg):
        assert bridge.snapshot().status == CONNECTING
        bridge.apply_settings(session(speed=1.3))
        snap = await until(bridge, lambda s: s.live.fields.get("speed") == APPLIED)
        assert snap.session["audio"]["output"]["speed"] == 1.3
        kinds = [e.type for e in bridge.events()]
        assert kinds.index("session.created") < kinds.index("session.update")


async def test_reconnect_changes_what_no_update_can_and_carries_the_conversation(server):
    async with call(server.base_url) as (bridge, _leg):
        first = await until(bridge, lambda s: s.status == CONNECTED)
        await asyncio.to_thread(bridge.send_text, "tell me about the weather")
        before = await until(bridge, lambda s: any(t.final for t in assistants(s)))
        bridge.apply_settings(session(voice="shimmer"))  # the model has spoken: locked
        await until(bridge, lambda s: s.live.fields.get("voice") == RECONNECT)

        carried = bridge.reconnect(target(server.base_url), session(voice="shimmer"))
        assert carried == 2
        after = await until(
            bridge,
            lambda s: s.status == CONNECTED and s.call_id != first.call_id and len(s.turns) >= 2,
        )
        assert after.session["audio"]["output"]["voice"] == "shimmer"
        assert after.turns == before.turns  # shown as they were, each once
        conversation = server.calls[after.call_id].conversation
        await until(bridge, lambda s: len(conversation.turns()) == 2, what="both turns carried")
        assert [(t.role, t.text) for t in conversation.turns()] == [
            (t.role, t.text) for t in before.turns
        ]
        await asyncio.sleep(0.3)
        assert list(server.calls) == [after.call_id], "the old call was not hung up"
        # the model sees the earlier turns: the local responder's reply is seeded by them
        await asyncio.to_thread(bridge.send_text, "and tomorrow")
        snap = await until(bridge, lambda s: len(assistants(s)) == 2 and s.turns[-1].final)
        assert [t.role for t in snap.turns] == ["user", "assistant", "user", "assistant"]


async def test_reconnect_shows_an_interrupted_answer_but_does_not_carry_it_to_the_model(server):
    async with call(server.base_url) as (bridge, leg):
        first = await until(bridge, lambda s: s.status == CONNECTED)
        asked = time.monotonic()
        await asyncio.to_thread(bridge.send_text, STORY)
        await until(bridge, lambda s: len(leg.loud_frames(since=asked)) >= 25, what="the voice")
        await asyncio.to_thread(bridge.interrupt)
        before = await until(
            bridge, lambda s: [t.status for t in s.turns] == ["done", "interrupted"]
        )

        assert bridge.reconnect(target(server.base_url), session()) == 1
        assert bridge.snapshot().turns == before.turns  # shown at once, marks and all
        after = await until(bridge, lambda s: s.status == CONNECTED and s.call_id != first.call_id)
        # The user heard only the start of the answer, and after a truncate OpenAI keeps no
        # text of it: the new call must not believe the whole answer was said.
        conversation = server.calls[after.call_id].conversation
        await until(bridge, lambda s: conversation.turns(), what="the carried item taken")
        await asyncio.sleep(0.3)  # anything else carried would have arrived with it
        assert [(t.role, t.text) for t in conversation.turns()] == [("user", STORY)]
        sent = [e.event["item"] for e in bridge.events("conversation.item.create")]
        assert [item["role"] for item in sent] == ["user"]
        await asyncio.sleep(0.3)
        assert bridge.snapshot().turns == before.turns, "the carried turn was shown twice"


async def test_an_update_too_large_to_send_is_refused_as_such_and_the_next_one_goes(server):
    bridge = Bridge(settings_debounce_s=0.05)
    async with call(server.base_url, bridge) as (_, _leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        bridge.apply_settings(session(instructions="x" * 70_000))
        snap = await until(bridge, lambda s: s.live.fields.get("instructions") == REFUSED)
        assert "takes at most 65536" in snap.live.refusal
        assert any("takes at most 65536" in e for e in snap.errors)  # shown with the rest
        # reported as what it was: nothing went out, and no server error was made up
        assert not bridge.events("session.update") and not bridge.events("error")
        bridge.apply_settings(session(instructions="x" * 70_000, threshold=0.7))
        snap = await until(bridge, lambda s: s.live.fields.get("threshold") == APPLIED)
        assert snap.status == CONNECTED and snap.live.applied.instructions == ""
