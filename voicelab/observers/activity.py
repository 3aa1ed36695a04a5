"""What is happening in the call right now, in the words the page shows: listening, you
are speaking, thinking, speaking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from voicelab.observers.stream import Direction

Activity = Literal["listening", "you are speaking", "thinking", "speaking"]


class ActivityTracker:
    """Runs on the call's loop; ``now`` is read under the stream's lock. Whether the model
    is speaking comes from the audio itself (``model_audible``): the server's events say
    when it sent the answer, not when the user hears it."""

    def __init__(self) -> None:
        self.user_speaking = False
        self._waiting = False  # a turn ended, its answer not over yet

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if direction == "sent":
            if kind in ("input_audio_buffer.commit", "response.create"):
                self._waiting = True
            return
        if kind == "input_audio_buffer.speech_started":
            self.user_speaking = True
        elif kind == "input_audio_buffer.speech_stopped":
            self.user_speaking, self._waiting = False, True
        elif kind == "response.created":
            self._waiting = True
        elif kind == "response.done":
            self._waiting = False

    def now(self, model_audible: bool) -> Activity:
        if self.user_speaking:
            return "you are speaking"
        if model_audible:
            return "speaking"
        return "thinking" if self._waiting else "listening"
