"""How much of the model's current answer the user has actually heard, for barge-in.

The server counts what it sent to the bridge, but the user heard only what the bridge passed
on to the browser: whatever was still queued when the user started talking is dropped, not
played. So on barge-in the bridge tells the server where the user stopped hearing, with
``conversation.item.truncate``, and the model's memory of its own answer ends where the
user's did. (OpenAI's WebRTC servers cut the item at what they sent; a truncate to an
earlier point narrows that down to what was heard.)

The count comes from the playback track itself: ``output_audio_buffer.started`` marks the
start of an answer in the stream of frames queued for the browser, and the track counts the
frames from that mark that actually went out (``FrameRelayTrack.heard_samples``). A frame
dropped by a flush or by the bound never counts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicelab.media.frames import WEBRTC_RATE
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.stream import Direction

_AUDIO_PARTS = ("audio", "output_audio")


@dataclass(frozen=True)
class Heard:
    """Where the user stopped hearing an answer: what ``conversation.item.truncate`` says."""

    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass
class _Answer:
    response_id: str
    item_id: str
    content_index: int


class PlaybackTracker:
    """Follows the server's events for one call and the track that plays its answers to the
    browser; ``cut`` is called at barge-in or Interrupt. Runs on the call's thread only."""

    def __init__(self, output: FrameRelayTrack | None, remembered: int = 8) -> None:
        self.output = output
        # response id -> its audio part; a few, since only the latest can be playing
        self._parts: OrderedDict[str, _Answer] = OrderedDict()
        self._remembered = remembered
        self._playing: _Answer | None = None
        self._cut_response: str | None = None  # the answer last cut
        self._sending = False  # the server is still sending the answer's audio
        #: After a cut, the model audio still on its way (the receiving jitter buffer alone
        #: holds 80 ms) belongs to the answer the user talked over: it is dropped, not
        #: played, until the next response begins.
        self.discarding = False

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        if direction != "received":
            return
        kind = event.get("type")
        if kind in ("response.created", "output_audio_buffer.started"):
            self.discarding = False
        if kind in ("response.content_part.added", "response.output_audio_transcript.delta"):
            part = event.get("part")
            is_audio = kind.endswith(".delta") or (
                isinstance(part, dict) and part.get("type") in _AUDIO_PARTS
            )
            response_id, item_id = event.get("response_id"), event.get("item_id")
            index = event.get("content_index", 0)
            if (
                is_audio
                and isinstance(response_id, str)
                and isinstance(item_id, str)
                and isinstance(index, int)
                and response_id not in self._parts
            ):
                self._parts[response_id] = _Answer(response_id, item_id, index)
                while len(self._parts) > self._remembered:
                    self._parts.popitem(last=False)
        elif kind == "output_audio_buffer.started":
            answer = self._parts.get(event.get("response_id"))  # type: ignore[arg-type]
            if answer is not None and self.output is not None:
                self.output.mark()
                self._playing, self._sending = answer, True
        elif kind in ("output_audio_buffer.stopped", "output_audio_buffer.cleared"):
            playing = self._playing
            response_id = event.get("response_id")
            if playing is None or response_id in (None, playing.response_id):
                self._sending = False  # not for a late word about an earlier answer

    def clears_playing(self, response_id: Any) -> bool:
        """Does an ``output_audio_buffer.cleared`` naming ``response_id`` concern what is
        playing now? Not when it is about an answer already cut (the server confirming our
        cut can arrive after the next answer has begun) or an older one."""
        if not isinstance(response_id, str):
            return True
        if self._playing is not None:
            return response_id == self._playing.response_id
        return response_id != self._cut_response

    def cut(self) -> Heard | None:
        """Drop what the browser has not yet been sent; return how much of the answer being
        heard went out, or None when no answer was still playing."""
        queued, heard = self.output.cut() if self.output is not None else (0, 0)
        answer, self._playing = self._playing, None
        self.discarding = True
        if answer is not None:
            self._cut_response = answer.response_id
        if answer is None or (not self._sending and queued == 0):
            return None  # nothing playing, or it had all been heard already
        return Heard(answer.item_id, answer.content_index, heard * 1000 // WEBRTC_RATE)
