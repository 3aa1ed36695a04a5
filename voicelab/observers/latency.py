"""Voice-to-voice latency per turn, in its stages, on the bridge's clock.

At the bridge, a turn's clock starts at the user's last audible frame the bridge sent
upstream and stops at the first frame of the model's answer with sound in it that the
bridge sent to the browser. In between: the server saying speech stopped (most of it is the
silence it waits for), the response being created, its first audio reaching the bridge. The
two ends are read off the frames themselves (``LevelRing``), not off events.

What the user hears adds the browser leg on both sides, and on loopback that is almost all
jitter buffer: aiortc's audio receiver holds four packets (``JitterBuffer(prefetch=4)`` in
``aiortc.rtcrtpreceiver``), 80 ms, before the microphone's frames reach the bridge, and the
page's receiver holds about as much before it plays. The bridge cannot see the page's
buffer, so ``voice_to_voice_ms`` adds ``BROWSER_BUFFER_MS`` for each side: measured against
a page peer on loopback, the bridge-only interval was 160-175 ms short and this is within
about 20 ms.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from voicelab.media.level_ring import LevelRing
from voicelab.observers.stream import Direction

#: What one jitter buffer of the browser leg holds (see above); each turn counts two.
BROWSER_BUFFER_MS = 80.0

#: (name, from, to): each stage of a turn at the bridge, in the order they happen.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("speech end → stopped", "last_audible", "speech_stopped"),
    ("stopped → response", "speech_stopped", "response_created"),
    ("response → first audio", "response_created", "first_audio_in"),
    ("bridge → browser", "first_audio_in", "first_audio_out"),
)


@dataclass(frozen=True)
class TurnLatency:
    item_id: str  # the user's item
    response_id: str | None = None
    reply_item_id: str | None = None
    last_audible: float | None = None  # the user's last audible frame sent upstream
    speech_stopped: float | None = None  # speech_stopped (or committed) arrived
    response_created: float | None = None
    first_audio_in: float | None = None  # the answer's first sound from the upstream
    first_audio_out: float | None = None  # … and sent on to the browser
    transcript_done: float | None = None  # the user's transcript completed

    @property
    def at_bridge_ms(self) -> float | None:
        return _ms(self.last_audible, self.first_audio_out)

    @property
    def voice_to_voice_ms(self) -> float | None:
        """From the user's last sound to the answer's first, as the user hears them."""
        bridge = self.at_bridge_ms
        return None if bridge is None else round(bridge + 2 * BROWSER_BUFFER_MS, 1)

    def stages_ms(self) -> dict[str, float | None]:
        """Every stage of ``voice_to_voice_ms``, the browser leg's two included."""
        measured = {name: _ms(getattr(self, a), getattr(self, b)) for name, a, b in STAGES}
        return {
            "browser → bridge": BROWSER_BUFFER_MS,
            **measured,
            "page playout": BROWSER_BUFFER_MS,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, times as ms after the user's last audible frame."""
        base = self.last_audible
        out: dict[str, Any] = {"item_id": self.item_id, "response_id": self.response_id}
        out["reply_item_id"] = self.reply_item_id
        for f in fields(self)[3:]:
            out[f"{f.name}_ms"] = _ms(base, getattr(self, f.name))
        out["voice_to_voice_ms"] = self.voice_to_voice_ms
        out["at_bridge_ms"] = self.at_bridge_ms
        out["stages_ms"] = self.stages_ms()
        return out


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000.0, 1)


def percentiles(turns: tuple[TurnLatency, ...], q: tuple[int, ...] = (50, 95)) -> dict:
    """``{"voice to voice": {50: ms, 95: ms}, stage: {…}}`` over the turns that have it."""
    columns: dict[str, list[float]] = {"voice to voice": []}
    for turn in turns:
        if turn.voice_to_voice_ms is not None:
            columns["voice to voice"].append(turn.voice_to_voice_ms)
        for name, value in turn.stages_ms().items():
            if value is not None:
                columns.setdefault(name, []).append(value)
    return {
        name: {p: round(float(np.percentile(values, p)), 1) for p in q}
        for name, values in columns.items()
        if values
    }


class LatencyMeter:
    """Runs on the call's loop (``observe``, ``audio_in``); ``turns`` under the stream's
    lock from any thread."""

    def __init__(self, uplink: LevelRing, output: LevelRing, keep: int = 200) -> None:
        self.uplink, self.output = uplink, output
        self._turns: deque[TurnLatency] = deque(maxlen=keep)
        #: The newest turn has a response but no sound yet.
        self.awaiting_audio = False

    def turns(self) -> tuple[TurnLatency, ...]:
        self._resolve()
        return tuple(self._turns)

    def audio_in(self, at: float, loud: bool) -> None:
        """A frame of the model's voice arrived from the upstream."""
        if not (loud and self.awaiting_audio):
            return
        self.awaiting_audio = False
        self._update(-1, first_audio_in=at)

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        if direction != "received":
            return
        now = time.monotonic()
        kind = event.get("type")
        if kind in ("input_audio_buffer.speech_stopped", "input_audio_buffer.committed"):
            item = str(event.get("item_id"))
            if any(t.item_id == item for t in self._turns):
                return  # committed after speech_stopped: the turn already has its clock
            self._turns.append(
                TurnLatency(item, last_audible=self.uplink.last_audible(now), speech_stopped=now)
            )
        elif kind == "response.created" and self._turns:
            last = self._turns[-1]
            if last.response_id is None:
                self._update(-1, response_id=_response_id(event), response_created=now)
                self.awaiting_audio = True
        elif kind == "response.output_item.added":
            item, response = event.get("item"), event.get("response_id")
            if isinstance(item, Mapping) and item.get("type") == "message":
                for i, turn in enumerate(self._turns):
                    if turn.response_id == response and turn.reply_item_id is None:
                        self._update(i, reply_item_id=str(item.get("id")))
        elif kind == "conversation.item.input_audio_transcription.completed":
            item = str(event.get("item_id"))
            for i, turn in enumerate(self._turns):
                if turn.item_id == item and turn.transcript_done is None:
                    self._update(i, transcript_done=now)
        elif (
            kind == "response.done"
            and self._turns
            and self._turns[-1].response_id == _response_id(event)
        ):
            self.awaiting_audio = False  # an answer without sound has no first sound

    def _update(self, index: int, **changes: Any) -> None:
        self._turns[index] = replace(self._turns[index], **changes)

    def _resolve(self) -> None:
        """The first sound sent to the browser is found once it has gone out."""
        for i, turn in enumerate(self._turns):
            if turn.first_audio_in is not None and turn.first_audio_out is None:
                out = self.output.first_audible(turn.first_audio_in)
                if out is not None:
                    self._update(i, first_audio_out=out)


def _response_id(event: Mapping[str, Any]) -> str | None:
    response = event.get("response")
    return str(response.get("id")) if isinstance(response, Mapping) else None
