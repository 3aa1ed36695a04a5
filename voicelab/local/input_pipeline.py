"""One call's incoming audio: resample, score, detect turns, recognise.

All of it runs on the call's own worker thread (VAD costs ~2 ms and recognition ~8 ms per
32 ms window here), never on the event loop that paces outgoing audio. Commands from the
loop (commit, clear, reconfigure) go through the same single-thread executor, so they are
ordered with the audio around them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicelab.local.recognizer import Recognizer, recognizers
from voicelab.local.turn_detection import SpeechStarted, SpeechStopped, TurnDetector
from voicelab.local.vad import RATE, WINDOW, WINDOW_MS, SpeechScorer
from voicelab.media.frames import WEBRTC_RATE
from voicelab.media.resampling import Rechunker, Resampler
from voicelab.protocol.limits import MIN_COMMIT_MS


@dataclass(frozen=True)
class Utterance:
    """A closed user turn: where it lies in the input audio and what was recognised."""

    audio_start_ms: int
    audio_end_ms: int
    transcript: str

    @property
    def duration_ms(self) -> int:
        return self.audio_end_ms - self.audio_start_ms


@dataclass(frozen=True)
class Stopped:
    utterance: Utterance


PipelineEvent = SpeechStarted | Stopped


class InputPipeline:
    def __init__(
        self, turn_detection: dict[str, Any] | None, recognizer: Recognizer | None = None
    ) -> None:
        self._resampler = Resampler(WEBRTC_RATE, RATE)
        self._rechunker = Rechunker(WINDOW)
        self._scorer = SpeechScorer()
        self._pooled = recognizer is None
        self._recognizer = recognizer or recognizers.take()
        self._detector = TurnDetector(turn_detection)
        self._position_ms = 0.0  # audio time at the end of the last window
        self._buffer_start_ms = 0.0  # where the uncommitted input buffer begins
        self._turn_start_ms: float | None = None
        # The last prefix_padding_ms (plus a window) of audio, replayed to the recognizer
        # when speech starts, so the first syllable is not lost.
        self._recent: deque[np.ndarray] = deque(maxlen=int(1000 / WINDOW_MS) + 2)
        self.last_score = 0.0
        self.last_dbfs = -100.0

    @property
    def position_ms(self) -> int:
        return int(self._position_ms)

    @property
    def manual(self) -> bool:
        return self._detector.config is None

    @property
    def speaking(self) -> bool:
        return self._detector.speaking

    def configure(self, turn_detection: dict[str, Any] | None) -> None:
        was_manual = self.manual
        self._detector.configure(turn_detection)
        if was_manual != self.manual:
            self._detector.reset()
            self._recognizer.finish()
            self._buffer_start_ms = self._position_ms
            self._turn_start_ms = None

    def process(self, samples_48k: np.ndarray) -> list[PipelineEvent]:
        events: list[PipelineEvent] = []
        for window in self._rechunker.push(self._resampler.process(samples_48k)):
            start = self._position_ms
            self._position_ms += WINDOW_MS
            scored = self._scorer.score(window)
            self.last_score, self.last_dbfs = scored.score, scored.dbfs
            if self.manual:
                self._recognizer.feed(window)
                continue
            if self._detector.speaking:
                self._recognizer.feed(window)
            else:
                self._recent.append(window)
            event = self._detector.window(start, WINDOW_MS, scored.score, self._recognizer.partial)
            if isinstance(event, SpeechStarted):
                self._turn_start_ms = event.audio_start_ms
                self._recognizer.start()
                keep = int(np.ceil((start - event.audio_start_ms) / WINDOW_MS)) + 1
                for past in list(self._recent)[-keep:]:
                    self._recognizer.feed(past)
                self._recent.clear()
                events.append(event)
            elif isinstance(event, SpeechStopped):
                begin = self._turn_start_ms if self._turn_start_ms is not None else start
                events.append(
                    Stopped(Utterance(int(begin), event.audio_end_ms, self._recognizer.finish()))
                )
                self._turn_start_ms = None
                self._buffer_start_ms = self._position_ms
        return events

    def commit(self) -> Utterance | None:
        """Close the input buffer as a user turn (manual mode, or mid-speech with VAD);
        None when it holds less than OpenAI's 100 ms minimum."""
        begin = self._turn_start_ms if self._turn_start_ms is not None else self._buffer_start_ms
        if self._position_ms - begin < MIN_COMMIT_MS:
            return None
        utterance = Utterance(int(begin), int(self._position_ms), self._recognizer.finish())
        self._detector.reset()
        self._turn_start_ms = None
        self._buffer_start_ms = self._position_ms
        return utterance

    def buffered_ms(self) -> int:
        begin = self._turn_start_ms if self._turn_start_ms is not None else self._buffer_start_ms
        return int(self._position_ms - begin)

    def clear(self) -> None:
        self._recognizer.finish()
        self._detector.reset()
        self._turn_start_ms = None
        self._buffer_start_ms = self._position_ms

    def close(self) -> None:
        """The call is over: a pooled decoder goes back for the next call."""
        if self._pooled:
            self._pooled = False
            recognizers.give_back(self._recognizer)
