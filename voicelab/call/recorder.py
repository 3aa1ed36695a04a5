"""One call, stored as it happens: every event (as the event log redacted it), each turn as
it changes, the figures after each response, the settings as the server took them, and
(when kept) the audio each way. All of it is handed to the history writer's queue, which
never blocks: nothing here waits on the database."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from voicelab.call.figures import call_figures, turn_record
from voicelab.call.metering import CallMeters
from voicelab.history.records import (
    CallEnded,
    CallStarted,
    EventLogged,
    FiguresChanged,
    SettingsChanged,
    TurnChanged,
)
from voicelab.history.writer import HistoryWriter
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.event_log import EventLog
from voicelab.observers.live_settings import LiveSettings
from voicelab.observers.stream import Direction
from voicelab.observers.transcript import Transcript
from voicelab.protocol.session import SessionConfig
from voicelab.upstream.transport import Target


class Stream(Protocol):
    lock: threading.Lock


class Recorded(Protocol):
    """What the recorder reads of its call (``UpstreamCall`` is one)."""

    target: Target
    config: SessionConfig
    session: dict[str, Any]
    call_id: str | None
    stream: Stream
    log: EventLog
    transcript: Transcript
    measures: CallMeters
    live: LiveSettings


#: Events stored per call at most (an hour of talk sends about 40,000, mostly transcript
#: deltas); later ones stay in the live event log only.
MAX_STORED_EVENTS = 50_000
#: Events after which a reply's latency and usage are complete.
_SETTLED = ("response.done", "output_audio_buffer.stopped")


class AudioTap:
    """One direction of the call's audio into its recording (0: upstream, 1: browser)."""

    def __init__(self, writer: HistoryWriter, history_id: str, channel: int, t0: float) -> None:
        self.writer, self.history_id, self.channel, self.t0 = writer, history_id, channel, t0

    def sent(self, samples: np.ndarray | None, at: float) -> None:
        if samples is not None:  # silence is placed by time, not written
            self.writer.audio(self.history_id, self.channel, np.array(samples), at - self.t0)


class CallRecorder:
    """An observer of one call, registered after the built-in ones (it reads them)."""

    def __init__(
        self,
        writer: HistoryWriter,
        history_id: str,
        call: Recorded,
        keep_audio: bool,
        owner: str | None = None,
    ) -> None:
        self.writer, self.id, self.call = writer, history_id, call
        self.started = time.monotonic()
        self._sent: dict[str, Any] = {}  # item id -> the Turn last stored
        #: (upstream, browser) when the audio is kept; (None, None) otherwise.
        self.taps: tuple[AudioTap | None, AudioTap | None] = (None, None)
        writer.submit(
            CallStarted(
                history_id,
                time.time(),
                call.target.backend,
                str(call.session.get("model") or ""),
                dataclasses.asdict(call.live.status().applied or call.config),
                owner,
            )
        )
        if keep_audio:
            writer.open_audio(history_id)
            self.taps = (
                AudioTap(writer, history_id, 0, self.started),
                AudioTap(writer, history_id, 1, self.started),
            )

    def attach(self, uplink: FrameRelayTrack, output: FrameRelayTrack) -> None:
        """Record what goes each way, when the audio is kept."""
        upstream, browser = self.taps
        if upstream is not None and browser is not None:
            uplink.add_tap(upstream)
            output.add_tap(browser)

    def detach(self, output: FrameRelayTrack) -> None:
        """The output track outlives the call (the uplink's goes with it)."""
        if self.taps[1] is not None:
            output.remove_tap(self.taps[1])

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        logged = self.call.log.last
        if logged is not None and logged.seq <= MAX_STORED_EVENTS:
            self.writer.submit(
                EventLogged(self.id, logged.seq, logged.wall, direction, dict(logged.event))
            )
        kind = event.get("type")
        settled = direction == "received" and kind in _SETTLED
        self._store_turns(force_last=4 if settled else 0)
        if settled:
            self.writer.submit(FiguresChanged(self.id, self.figures()))
        if direction == "received" and kind == "session.updated":
            applied = self.call.live.status().applied
            if applied is not None:
                self.writer.submit(SettingsChanged(self.id, dataclasses.asdict(applied)))

    def _store_turns(self, force_last: int) -> None:
        call = self.call
        turns = call.transcript.turns()
        times = None
        latency = usage = None
        for position, turn in enumerate(turns):
            forced = position >= len(turns) - force_last
            if not forced and self._sent.get(turn.item_id) is turn:
                continue
            if times is None:
                measures = call.measures
                times = measures.item_times.times()
                latency = {t.reply_item_id: t for t in measures.latency.turns() if t.reply_item_id}
                usage = {i: r for r in measures.usage.responses() for i in r.item_ids}
            self._sent[turn.item_id] = turn
            record = turn_record(
                turn, times.get(turn.item_id), latency.get(turn.item_id), usage.get(turn.item_id)
            )
            self.writer.submit(TurnChanged(self.id, turn.item_id, position, record))
        if len(self._sent) > 4 * call.transcript.max_turns:
            self._sent = {t.item_id: t for t in turns}

    def figures(self) -> dict[str, Any]:
        call = self.call
        figures = call_figures(
            call.transcript.turns(),
            call.measures.latency.turns(),
            call.measures.usage.totals(),
            time.monotonic() - self.started,
        )
        figures["upstream_call_id"] = call.call_id
        return figures

    def end(self, status: str, problem: str | None) -> None:
        """The call is over (from the bridge, any thread): the last of it goes in."""
        with self.call.stream.lock:
            self._store_turns(force_last=4)
            figures = self.figures()
        self.writer.submit(FiguresChanged(self.id, figures))
        self.writer.submit(CallEnded(self.id, time.time(), status, problem))
        if self.taps[0] is not None:
            self.writer.close_audio(self.id)
