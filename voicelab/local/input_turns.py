"""The user's side of a call, narrated in OpenAI's events: speech started and stopped, the
input buffer committed as a user item, and that item's transcription when the session asks
for one. What the call does about a turn (barge-in, a response) is the call's business."""

from __future__ import annotations

from voicelab.local.conversation import Conversation, server_item
from voicelab.local.input_pipeline import Utterance
from voicelab.local.sender import Sender
from voicelab.local.session import Session
from voicelab.protocol.ids import new_id


class InputTurns:
    def __init__(self, out: Sender, conversation: Conversation, session: Session) -> None:
        self._out = out
        self._conversation = conversation
        self._session = session
        self._item_id: str | None = None  # the user item being spoken

    def speech_started(self, audio_start_ms: int) -> None:
        self._item_id = new_id("item")
        self._out.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": self._item_id,
            }
        )

    def speech_stopped(self, utterance: Utterance) -> None:
        item_id = self._item_id or new_id("item")
        self._out.send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": utterance.audio_end_ms,
                "item_id": item_id,
            }
        )
        self.commit(utterance, item_id)

    def commit(self, utterance: Utterance, item_id: str | None = None) -> str:
        """The buffer becomes a user item, with its transcript when transcription is on."""
        item = server_item("user", [{"type": "input_audio", "transcript": None}])
        item["id"] = item_id or self._item_id or item["id"]
        self._item_id = None
        previous = self._conversation.add(
            item, audio_ms=utterance.duration_ms, heard=utterance.transcript
        )
        self._out.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item["id"],
                "previous_item_id": previous,
            }
        )
        self._out.send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        # The responder always hears the words; the client sees them only if it asked.
        if self._session.transcription is not None:
            item["content"][0]["transcript"] = utterance.transcript
            self._transcription(item["id"], utterance.transcript)
        self._out.send(
            {
                "type": "conversation.item.done",
                "previous_item_id": previous,
                "item": self._conversation.snapshot(item["id"]),
            }
        )
        return item["id"]

    def cleared(self) -> None:
        self._item_id = None
        self._out.send({"type": "input_audio_buffer.cleared"})

    def _transcription(self, item_id: str, transcript: str) -> None:
        words = transcript.split()
        for i, word in enumerate(words):
            self._out.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": word if i == 0 else " " + word,
                }
            )
        self._out.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": 0},
            }
        )
