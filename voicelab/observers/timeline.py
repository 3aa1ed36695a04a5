"""Where the server heard speech, when it answered, and where the user cut in, on the
bridge's clock (``time.monotonic()``): what the VAD timeline draws under the two levels.

The server tells speech in its own audio clock (``audio_start_ms`` / ``audio_end_ms``: ms
of input audio since the call began). The bridge sent that audio in 20 ms frames and knows
when it sent each one (the uplink's ``LevelRing``), so a server time maps onto the moment
the bridge sent that audio. The span is then drawn where the user's own level is, and a
change of threshold shows as a change in where speech begins and ends.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from voicelab.observers.stream import Direction

SpanKind = Literal["speech", "response"]


@dataclass(frozen=True)
class Span:
    kind: SpanKind
    key: str  # the user item (speech) or the response
    start: float
    end: float | None = None  # None while it lasts
    #: speech: the server's own times (ms of input audio); response: its final status
    detail: str = ""


@dataclass(frozen=True)
class Mark:
    at: float
    label: str  # "interrupted"


class Timeline:
    """Runs on the call's loop; read under the stream's lock."""

    def __init__(self, uplink_clock: Callable[[float], float | None], keep: int = 200) -> None:
        self._clock = uplink_clock
        self._spans: deque[Span] = deque(maxlen=keep)
        self._marks: deque[Mark] = deque(maxlen=keep)
        self._start_ms: dict[str, int] = {}

    def spans(self) -> tuple[Span, ...]:
        return tuple(self._spans)

    def marks(self) -> tuple[Mark, ...]:
        return tuple(self._marks)

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        now = time.monotonic()
        kind = event.get("type")
        if direction == "sent":
            if kind == "conversation.item.truncate":
                self._marks.append(Mark(now, "interrupted"))
            return
        if kind == "input_audio_buffer.speech_started":
            item, ms = str(event.get("item_id")), int(event.get("audio_start_ms") or 0)
            self._start_ms[item] = ms
            if len(self._start_ms) > self._spans.maxlen:  # type: ignore[operator]
                self._start_ms.pop(next(iter(self._start_ms)))
            self._spans.append(Span("speech", item, self._at(ms, now), detail=f"{ms}–"))
        elif kind == "input_audio_buffer.speech_stopped":
            item, ms = str(event.get("item_id")), int(event.get("audio_end_ms") or 0)
            start = self._start_ms.get(item)
            self._close("speech", item, self._at(ms, now), f"{start}–{ms} ms")
        elif kind == "response.created":
            response = _response_id(event)
            self._spans.append(Span("response", response, now))
        elif kind == "response.done":
            response, status = _response_id(event), _status(event)
            self._close("response", response, now, status)

    def _at(self, audio_ms: float, now: float) -> float:
        at = self._clock(audio_ms)
        return now if at is None else min(at, now)

    def _close(self, kind: SpanKind, key: str, end: float, detail: str) -> None:
        for i in range(len(self._spans) - 1, -1, -1):
            span = self._spans[i]
            if span.kind == kind and span.key == key and span.end is None:
                self._spans[i] = replace(span, end=max(end, span.start), detail=detail)
                return


def _response_id(event: Mapping[str, Any]) -> str:
    response = event.get("response")
    return str(response.get("id")) if isinstance(response, Mapping) else ""


def _status(event: Mapping[str, Any]) -> str:
    response = event.get("response")
    return str(response.get("status") or "") if isinstance(response, Mapping) else ""
