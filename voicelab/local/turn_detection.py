"""Turn detection as a pure state machine over scored 32 ms windows.

It honours the session's ``turn_detection``: ``server_vad`` (threshold, prefix padding,
silence duration), ``semantic_vad`` (eagerness: how long a pause must be before the turn
ends, longer when the words so far sound unfinished) and ``None`` (manual turns: the client
commits). Times are audio milliseconds since the call's first input sample, like OpenAI's
``audio_start_ms`` / ``audio_end_ms``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Consecutive speech windows (32 ms each) before speech counts as started: one click or
#: pop is not a turn.
START_WINDOWS = 2
SEMANTIC_THRESHOLD = 0.5
#: eagerness → (pause that ends a turn that sounds finished, pause that ends any turn), ms.
#: OpenAI documents the longest waits as about 8 / 4 / 2 s for low / medium / high.
EAGERNESS_WAIT_MS: dict[str, tuple[int, int]] = {
    "low": (1500, 8000),
    "medium": (700, 4000),
    "auto": (700, 4000),
    "high": (300, 2000),
}
_UNFINISHED = re.compile(
    r"\b(and|but|or|so|because|the|a|an|to|of|with|um|uh|like|if|then|my|your|is|are)$"
)


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int


TurnEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    def __init__(self, config: dict[str, Any] | None) -> None:
        self.config = config
        self.speaking = False
        self._run = 0  # consecutive speech windows while not speaking
        self._run_start_ms = 0.0
        self._silence_ms = 0.0
        self._judged_unfinished: bool | None = None

    def configure(self, config: dict[str, Any] | None) -> None:
        """Live update: applies from the next window; a turn in progress keeps going."""
        self.config = config

    @property
    def threshold(self) -> float:
        if self.config is None:
            return 1.0
        if self.config["type"] == "semantic_vad":
            return SEMANTIC_THRESHOLD
        return float(self.config["threshold"])

    @property
    def prefix_padding_ms(self) -> int:
        if self.config is None or self.config["type"] == "semantic_vad":
            return 300
        return int(self.config["prefix_padding_ms"])

    def window(
        self, start_ms: float, length_ms: float, score: float, partial: Callable[[], str]
    ) -> TurnEvent | None:
        """Feed one window; returns the event it causes, if any."""
        if self.config is None:
            return None
        is_speech = score >= self.threshold
        end_ms = start_ms + length_ms
        if not self.speaking:
            if not is_speech:
                self._run = 0
                return None
            if self._run == 0:
                self._run_start_ms = start_ms
            self._run += 1
            if self._run < START_WINDOWS:
                return None
            self.speaking = True
            self._silence_ms = 0.0
            self._judged_unfinished = None
            return SpeechStarted(int(max(0.0, self._run_start_ms - self.prefix_padding_ms)))
        if is_speech:
            self._silence_ms = 0.0
            self._judged_unfinished = None
            return None
        self._silence_ms += length_ms
        if self._silence_ms >= self._pause_needed_ms(partial):
            self.speaking = False
            self._run = 0
            return SpeechStopped(int(end_ms))
        return None

    def _pause_needed_ms(self, partial: Callable[[], str]) -> float:
        assert self.config is not None
        if self.config["type"] == "server_vad":
            return float(self.config["silence_duration_ms"])
        short, long = EAGERNESS_WAIT_MS[self.config.get("eagerness") or "auto"]
        if self._silence_ms < short:
            return short
        if self._judged_unfinished is None:  # ask the recognizer once per pause
            words = partial().strip().lower()
            self._judged_unfinished = not words or bool(_UNFINISHED.search(words))
        return long if self._judged_unfinished else short

    def reset(self) -> None:
        self.speaking = False
        self._run = 0
        self._silence_ms = 0.0
