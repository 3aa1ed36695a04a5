"""What the page's live view is sent (components/live/feed.py), as pure logic: versions that
change exactly when what a fragment draws does, the turns after the ones the page drew, the
timeline's bins, the state in words."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from components import conversation
from components.live.feed import BIN_S, WINDOW_S, bins, cap_words, state_words, versions
from voicelab.call import CONNECTED, CONNECTING, ERROR, IDLE, Snapshot
from voicelab.call.recovery import Recovery
from voicelab.call.renewal import RenewalPolicy
from voicelab.observers.transcript import Turn
from voicelab.observers.usage import ResponseUsage, UsageTotals
from voicelab.pricing import Tokens


def call(n_exchanges: int, streaming: bool = False, tokens: int = 10) -> Snapshot:
    """A call's snapshot built afresh each time, as every feed reading builds its own."""
    turns, responses = [], []
    for i in range(n_exchanges):
        turns += [Turn(f"u{i}", "user", f"question {i}", "done")]
        turns += [Turn(f"a{i}", "assistant", f"answer {i}", "done")]
        responses.append(
            ResponseUsage(f"r{i}", (f"a{i}",), "completed", Tokens(audio_in=tokens), 0.001)
        )
    if streaming:
        turns.append(Turn("a-live", "assistant", "half an ans", "streaming"))
    return Snapshot(
        status=CONNECTED,
        turns=tuple(turns),
        responses=tuple(responses),
        usage=UsageTotals(
            responses=len(responses),
            tokens=Tokens(audio_in=tokens * n_exchanges),
            cost_usd=0.001 * n_exchanges,
        ),
    )


def test_versions_hold_while_nothing_drawn_changes_and_move_when_it_does():
    assert versions(call(2)) == versions(call(2))  # equal values, not the same objects
    assert versions(call(2, streaming=True))["settled"] == versions(call(2))["settled"] == 4
    assert versions(call(2, streaming=True))["figures"] == versions(call(2))["figures"]
    assert versions(call(3))["settled"] == 6
    assert versions(call(2, tokens=11))["figures"] != versions(call(2))["figures"]
    assert versions(call(2))["live"] != versions(Snapshot(status=IDLE))["live"]


def test_an_answer_without_its_usage_is_not_settled():
    snap = call(2)
    unpriced = Snapshot(status=CONNECTED, turns=snap.turns, responses=snap.responses[:1])
    assert conversation.settled(unpriced) == 3  # the second answer waits for response.done


def test_the_feed_sends_the_turns_after_the_ones_the_page_drew():
    snap = call(3, streaming=True)
    sent = conversation.streaming(snap, 4)
    assert [t["index"] for t in sent] == [4, 5, 6]
    assert [t["key"] for t in sent] == [
        "turn-user-u2",
        "turn-assistant-a2",
        "turn-assistant-a-live",
    ]
    assert sent[-1]["status"] == "streaming" and sent[-1]["text"] == "half an ans"
    assert conversation.streaming(snap, 100) == []
    long = call(40)  # never more than the page would show
    sent = conversation.streaming(long, 0)
    assert len(sent) == conversation.SHOWN_TURNS and sent[0]["index"] == 80 - 30


def test_bins_keep_the_loudest_frame_of_each_bin_within_the_window():
    now = 1000.0
    times = np.array([now - 40, now - 1.0, now - 0.95, now - 0.5, now - 0.01])
    dbfs = np.array([-10.0, -60.0, -20.0, -200.0, -30.0])
    levels = bins(times, dbfs, now)
    assert len(levels) == round(WINDOW_S / BIN_S) == 150
    assert levels[:-5] == [None] * 145  # the frame 40 s ago is out; no audio, no level
    assert levels[-5:] == [-20.0, None, -80.0, None, -30.0]  # loudest; floored at -80
    assert bins(np.array([]), np.array([]), now) == [None] * 150


def test_the_state_in_words():
    assert state_words(Snapshot(status=CONNECTING), False) == ("Connecting…", "orange")
    assert state_words(Snapshot(status=CONNECTED, activity="thinking"), True)[0] == "Thinking"
    assert state_words(Snapshot(status=ERROR), True) == ("Ended", "red")
    assert state_words(Snapshot(status=IDLE), True) == ("Ended", "gray")
    assert state_words(Snapshot(status=ERROR), False) == ("Could not start", "red")
    assert state_words(Snapshot(status=IDLE), False)[0].startswith("Not in a call")
    lost = Snapshot(status=CONNECTING, recovery=Recovery(2, 5))
    assert state_words(lost, True) == ("Reconnecting (2 of 5)…", "orange")


def test_the_countdown_to_the_time_limit():
    policy, now = RenewalPolicy(countdown_s=300), 1_000_000.0
    assert cap_words(Snapshot(status=CONNECTED, expires_at=now + 301), policy, now) is None
    soon = Snapshot(status=CONNECTED, expires_at=now + 272.5)
    assert cap_words(soon, policy, now).startswith("This session reaches its time limit in 4:32;")
    assert cap_words(replace(soon, renewing=True), policy, now).startswith("Renewing the session")
    assert cap_words(replace(soon, status=CONNECTING), policy, now) is None
    assert cap_words(Snapshot(status=CONNECTED), policy, now) is None  # no limit known yet
