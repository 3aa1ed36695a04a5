"""What was said, in order: a pure reducer from Realtime server events to transcript turns.

Arrival order is not conversation order: a user's transcript often completes after the
assistant has begun answering. Turns are therefore placed by the server's item order
(``previous_item_id``), and text is filled in whenever it arrives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

from voicelab.observers.stream import Direction
from voicelab.protocol.server_events import MALFORMED, answers_best_effort, error_text

Role = Literal["user", "assistant"]
#: streaming: text still arriving · done: final text · interrupted: cut off by the user or a
#: cancel · failed: no text will come (e.g. transcription failed)
Status = Literal["streaming", "done", "interrupted", "failed"]
#: A user turn's text when the session does not transcribe: something was said, not what.
NOT_TRANSCRIBED = "(speech; transcription is off)"


@dataclass(frozen=True)
class Turn:
    item_id: str
    role: Role
    text: str
    status: Status = "streaming"

    @property
    def final(self) -> bool:
        return self.status != "streaming"


def _content_text(item: dict[str, Any]) -> tuple[str, bool]:
    """Text already carried by an item, and whether it is complete (typed text is; audio
    transcripts are until proven otherwise only if present)."""
    parts = item.get("content") or []
    texts: list[str] = []
    complete = bool(parts)
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text") or ""))
        elif kind in ("input_audio", "output_audio", "audio"):
            transcript = part.get("transcript")
            if transcript is None:
                complete = False
            else:
                texts.append(str(transcript))
    return " ".join(t for t in texts if t), complete


class Transcript:
    """Feed events with ``apply``; read ``turns()`` and ``errors()``. No I/O, no clocks."""

    def __init__(self, max_turns: int = 200, max_errors: int = 20) -> None:
        self.max_turns = max_turns
        self._order: list[str] = []
        self._turns: dict[str, Turn] = {}
        self._errors: deque[str] = deque(maxlen=max_errors)
        # Items deleted or dropped by the bound: late events about them are ignored rather
        # than bringing them back at the end. Bounded like everything else.
        self._gone: deque[str] = deque(maxlen=4 * max_turns)
        #: Whether the session transcribes user audio; without it a user turn has no text
        #: coming and must not show "…" forever.
        self.transcribing = True

    def carry(self, turns: tuple[Turn, ...], hidden: tuple[str, ...] = ()) -> None:
        """Start with an earlier call's turns, shown as they were (an interrupted answer
        stays marked). ``hidden`` are the ids under which some of them are re-sent to the
        model: the server's echo of those must not show them twice."""
        for turn in turns[-self.max_turns :]:
            self._order.append(turn.item_id)
            self._turns[turn.item_id] = turn
        self._gone.extend(hidden)

    def turns(self) -> tuple[Turn, ...]:
        return tuple(self._turns[i] for i in self._order if i in self._turns)

    def errors(self) -> tuple[str, ...]:
        return tuple(self._errors)

    def note_error(self, text: str) -> None:
        """A problem of the call's own to show with the server's (a change not sent)."""
        self._errors.append(text)

    def end(self) -> None:
        """The call is over: nothing more will arrive, so no turn may stay "streaming" (a
        reply cut off by Stop would show its trailing "…" for good)."""
        for turn in [t for t in self._turns.values() if t.status == "streaming"]:
            if turn.role == "assistant" or turn.text:
                self._set(turn, status="interrupted")
            else:
                self._set(turn, text="(not transcribed: the call ended first)", status="failed")

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        if direction == "received":
            self.apply(event)

    def apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type", "")
        handler = _HANDLERS.get(kind)
        if handler is None:
            return
        try:
            handler(self, event)
        except (AttributeError, TypeError, KeyError, ValueError):
            # A field of the wrong type (an item that is a string, …): one event lost,
            # never the transcript.
            self._errors.append(f"A {kind} event had an unexpected shape and was ignored.")

    # placement -----------------------------------------------------------------------

    def _place(self, item_id: str, previous_item_id: str | None) -> None:
        """Put ``item_id`` right after ``previous_item_id`` when that is known; a new item
        with an unknown predecessor goes to the end."""
        if previous_item_id is not None and previous_item_id in self._order:
            if item_id in self._order:
                self._order.remove(item_id)
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)
        elif item_id not in self._order:
            self._order.append(item_id)
        while len(self._order) > self.max_turns:
            dropped = self._order.pop(0)
            self._turns.pop(dropped, None)
            self._gone.append(dropped)

    def _ensure(self, item_id: str, role: Role, previous_item_id: str | None = None) -> Turn | None:
        if item_id in self._gone:
            return None
        self._place(item_id, previous_item_id)
        turn = self._turns.get(item_id)
        if turn is None:
            turn = self._turns[item_id] = Turn(item_id, role, "")
        return turn

    def _set(self, turn: Turn | None, **changes: Any) -> None:
        if turn is not None and turn.item_id in self._turns:
            self._turns[turn.item_id] = replace(turn, **changes)

    # handlers --------------------------------------------------------------------------

    def _item_added(self, event: Mapping[str, Any]) -> None:
        item = event.get("item") or {}
        item_id = item.get("id")
        if not item_id:
            return
        if item.get("type") != "message" or item.get("role") not in ("user", "assistant"):
            self._place(item_id, event.get("previous_item_id"))  # keeps the order right
            return
        turn = self._ensure(item_id, item["role"], event.get("previous_item_id"))
        if turn is None:
            return
        text, complete = _content_text(item)
        if text and (complete or not turn.text):
            self._set(turn, text=text, status="done" if complete else turn.status)
        elif complete and turn.status == "streaming" and item["role"] == "user":
            self._set(turn, status="done")

    def _item_done(self, event: Mapping[str, Any]) -> None:
        item = event.get("item") or {}
        turn = self._turns.get(item.get("id", ""))
        if turn is None:
            self._item_added(event)
            return
        text, complete = _content_text(item)
        if complete and text and turn.status == "streaming":
            self._set(turn, text=text, status="done")

    def _user_speech(self, event: Mapping[str, Any]) -> None:
        item_id = event.get("item_id")
        if not item_id:
            return
        turn = self._ensure(item_id, "user", event.get("previous_item_id"))
        committed = event["type"] == "input_audio_buffer.committed"
        if committed and not self.transcribing and turn is not None and not turn.text:
            self._set(turn, text=NOT_TRANSCRIBED, status="done")

    def _session(self, event: Mapping[str, Any]) -> None:
        session = event.get("session") or {}
        audio_in = (session.get("audio") or {}).get("input") or {}
        self.transcribing = audio_in.get("transcription") is not None

    def _delta(self, event: Mapping[str, Any], role: Role) -> None:
        turn = self._ensure(event.get("item_id", "?"), role)
        if turn is not None and turn.status == "streaming":
            self._set(turn, text=turn.text + str(event.get("delta") or ""))

    def _user_completed(self, event: Mapping[str, Any]) -> None:
        turn = self._ensure(event.get("item_id", "?"), "user")
        self._set(turn, text=str(event.get("transcript") or "").strip(), status="done")

    def _user_failed(self, event: Mapping[str, Any]) -> None:
        turn = self._ensure(event.get("item_id", "?"), "user")
        error = event.get("error")
        reason = (error.get("message") if isinstance(error, dict) else None) or "unknown reason"
        text = (turn.text if turn else "") or f"(not transcribed: {reason})"
        self._set(turn, text=text, status="failed")

    def _assistant_item(self, event: Mapping[str, Any]) -> None:
        item = event.get("item") or {}
        if item.get("id") and item.get("type") == "message":
            self._ensure(item["id"], "assistant")

    def _assistant_done(self, event: Mapping[str, Any]) -> None:
        turn = self._ensure(event.get("item_id", "?"), "assistant")
        if turn is None:
            return
        final = event.get("transcript", event.get("text"))
        status = "interrupted" if turn.status == "interrupted" else "done"
        self._set(turn, text=str(final) if final is not None else turn.text, status=status)

    def _response_done(self, event: Mapping[str, Any]) -> None:
        response = event.get("response") or {}
        # cancelled: cut off by the user or a cancel; incomplete (a token limit) is complete
        # as far as the listener is concerned.
        cut = response.get("status") == "cancelled"
        for item in response.get("output") or []:
            turn = self._turns.get(item.get("id", "") if isinstance(item, dict) else "")
            if turn is not None and (cut or turn.status == "streaming"):
                self._set(turn, status="interrupted" if cut else "done")
        if response.get("status") == "failed":
            details = (response.get("status_details") or {}).get("error") or {}
            self._errors.append(
                f"The response failed: {details.get('message') or 'no reason given'}."
            )

    def _truncated(self, event: Mapping[str, Any]) -> None:
        turn = self._turns.get(event.get("item_id", ""))
        if turn is not None:
            self._set(turn, status="interrupted")

    def _deleted(self, event: Mapping[str, Any]) -> None:
        item_id = event.get("item_id", "")
        self._turns.pop(item_id, None)
        self._gone.append(item_id)
        if item_id in self._order:
            self._order.remove(item_id)

    def _error(self, event: Mapping[str, Any]) -> None:
        if not answers_best_effort(event):  # a cut the server had already made: no news
            self._errors.append(error_text(event))

    def _malformed(self, event: Mapping[str, Any]) -> None:
        size = event.get("size")
        if isinstance(size, int):
            self._errors.append(
                f"The server sent an event too large to handle ({size // 1024} KB); ignored it."
            )
        else:
            self._errors.append("The server sent a message that is not a valid event; ignored it.")


_HANDLERS = {
    "session.created": Transcript._session,
    "session.updated": Transcript._session,
    "conversation.item.added": Transcript._item_added,
    "conversation.item.done": Transcript._item_done,
    "input_audio_buffer.speech_started": Transcript._user_speech,
    "input_audio_buffer.committed": Transcript._user_speech,
    "conversation.item.input_audio_transcription.delta": partial(Transcript._delta, role="user"),
    "conversation.item.input_audio_transcription.completed": Transcript._user_completed,
    "conversation.item.input_audio_transcription.failed": Transcript._user_failed,
    "response.output_item.added": Transcript._assistant_item,
    "response.output_audio_transcript.delta": partial(Transcript._delta, role="assistant"),
    "response.output_text.delta": partial(Transcript._delta, role="assistant"),
    "response.output_audio_transcript.done": Transcript._assistant_done,
    "response.output_text.done": Transcript._assistant_done,
    "response.done": Transcript._response_done,
    "conversation.item.truncated": Transcript._truncated,
    "conversation.item.deleted": Transcript._deleted,
    "error": Transcript._error,
    MALFORMED: Transcript._malformed,
}
