"""The small pure pieces around the event stream: dispatch, the one-question observers, the
client events' envelope, the watchdog and the reconnect carry-over."""

from __future__ import annotations

import json
import time

import pytest

from voicelab.call import problems
from voicelab.call.carry_over import MAX_CARRIED_TURNS, CarryOver
from voicelab.call.watchdog import Watchdog
from voicelab.observers.responses import ResponseState
from voicelab.observers.session_state import SessionState
from voicelab.observers.stream import EventStream
from voicelab.observers.transcript import Transcript, Turn
from voicelab.protocol import client_events
from voicelab.protocol.client_events import EventTooLarge
from voicelab.protocol.ids import BEST_EFFORT_PREFIX
from voicelab.protocol.server_events import answers_best_effort


class Boom:
    def observe(self, direction, event):
        raise RuntimeError("a broken observer")


class Seen:
    def __init__(self):
        self.seen = []

    def observe(self, direction, event):
        self.seen.append((direction, event["type"]))


def test_a_failing_observer_is_skipped_reported_once_and_the_others_still_see_the_event():
    before, after = Seen(), Seen()
    stream = EventStream([before, Boom()])
    stream.register(after)
    assert stream.dispatch("received", {"type": "session.created"}) is False  # news
    assert stream.dispatch("sent", {"type": "response.create"}) is True  # already said
    assert stream.failures == 2
    assert (
        before.seen == after.seen == [("received", "session.created"), ("sent", "response.create")]
    )
    assert EventStream([before]).dispatch("received", {"type": "x"}) is True


def test_response_state_and_session_state_answer_their_one_question():
    responses, session = ResponseState(), SessionState()
    for observer in (responses, session):
        observer.observe("sent", {"type": "response.created"})  # ours: not the server's word
    assert not responses.running and session.session is None
    responses.observe("received", {"type": "response.created", "response": {}})
    assert responses.running
    responses.observe("received", {"type": "response.done", "response": {}})
    assert not responses.running
    assert session.interrupts_response  # unknown: stopping the model is the safe side
    off = {"audio": {"input": {"turn_detection": {"interrupt_response": False}}}}
    session.observe("received", {"type": "session.updated", "session": off})
    assert session.session == off and not session.interrupts_response


def test_every_client_event_has_our_envelope_and_cuts_are_best_effort():
    events = [
        client_events.session_update({"type": "realtime"}),
        client_events.user_message("hi"),
        client_events.response_create(),
        client_events.input_audio_buffer_commit(),
        client_events.input_audio_buffer_clear(),
        client_events.response_cancel(),
        client_events.output_audio_buffer_clear(),
    ]
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids) and all(i.startswith("voicelab_") for i in ids)
    assert not any(i.startswith(BEST_EFFORT_PREFIX) for i in ids)
    cut = client_events.item_truncate("item_1", 0, 480)
    assert cut["event_id"].startswith(BEST_EFFORT_PREFIX)
    assert client_events.response_cancel(best_effort=True)["event_id"].startswith(
        BEST_EFFORT_PREFIX
    )
    refusal = {"type": "error", "error": {"message": "gone", "event_id": cut["event_id"]}}
    assert answers_best_effort(refusal)
    assert not answers_best_effort({"type": "error", "error": {"event_id": ids[0]}})
    transcript = Transcript()  # a cut the server had already made is no news for the user
    transcript.apply(refusal)
    assert transcript.errors() == ()


def test_encode_refuses_what_the_data_channel_would_drop():
    small = client_events.user_message("hello")
    assert json.loads(client_events.encode(small)) == small
    with pytest.raises(EventTooLarge, match="at most 65536"):
        client_events.encode(client_events.user_message("x" * 70_000))


def test_the_watchdog_ends_a_call_whose_browser_or_upstream_went_quiet():
    dog = Watchdog(browser_silence_s=10.0)
    assert dog.problem("connected", now=1e9) is None  # not watching before session.created
    dog.start()
    started = time.monotonic()
    assert dog.problem("connected", started + 9.9) is None
    assert dog.problem("connected", started + 10.1) == problems.browser_silent(10.0)
    dog.browser_frame()
    assert dog.problem("checking", dog.last_browser_frame + 1.0) is None
    assert dog.problem("failed", dog.last_browser_frame) == problems.CONNECTION_LOST


def test_carry_over_keeps_every_turn_shown_and_resends_only_whole_ones():
    said = Turn("a", "user", "hello", "done")
    cut = Turn("b", "assistant", "it was a dark and", "interrupted")
    later = (Turn(f"t{i}", "user", str(i), "done") for i in range(MAX_CARRIED_TURNS))
    history = (said, cut, *later)
    carry = CarryOver.of(history, call_number=7)
    assert len(carry.shown) == MAX_CARRIED_TURNS  # bounded, oldest dropped
    assert cut not in carry.shown
    carry = CarryOver.of((said, cut), call_number=7)
    assert carry.shown == (said, cut)
    (event,) = carry.events()
    assert event["type"] == "conversation.item.create"
    assert event["item"]["id"] == carry.hidden_ids[0] == "voicelab_carried_7_0"
    assert event["item"]["content"] == [{"type": "input_text", "text": "hello"}]
