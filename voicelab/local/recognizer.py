"""Offline speech recognition behind one small interface, so a better engine can drop in.

PocketSphinx's wheel carries an en-US acoustic model, language model and dictionary. Its
open-vocabulary accuracy on synthetic speech is roughly half the words (docs/local-server.md);
it is fed while the user speaks, so only ``end_utt`` remains when they stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

RATE = 16_000


class Recognizer(Protocol):
    """Streaming recognizer for 16 kHz mono s16; not thread-safe, one per call."""

    def start(self) -> None: ...
    def feed(self, samples: np.ndarray) -> None: ...
    def partial(self) -> str: ...
    def finish(self) -> str: ...
    def reset(self) -> None: ...


class PocketsphinxRecognizer:
    def __init__(self) -> None:
        from pocketsphinx import Decoder

        # fwdflat=False skips the second-pass search at end_utt: 2-5 ms instead of 60-140 ms
        # on 3-4 s utterances, with comparable accuracy on our test phrases. That search sits
        # between the end of the user's turn and the reply.
        self._decoder = Decoder(samprate=RATE, logfn="/dev/null", fwdflat=False)
        self._active = False

    def start(self) -> None:
        if self._active:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._active = True

    def feed(self, samples: np.ndarray) -> None:
        if not self._active:
            self.start()
        self._decoder.process_raw(np.ascontiguousarray(samples, dtype=np.int16).tobytes())

    def partial(self) -> str:
        if not self._active:
            return ""
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def reset(self) -> None:
        """Drop any utterance in progress, so the decoder can serve another call."""
        if self._active:
            self._decoder.end_utt()
            self._active = False

    def finish(self) -> str:
        if not self._active:
            return ""
        self._decoder.end_utt()
        self._active = False
        hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""


class RecognizerPool:
    """Building a PocketSphinx decoder takes about 300 ms and holds the GIL the whole time,
    stalling every event loop in the process (measured: a call's setRemoteDescription took
    275 ms instead of 6 while one was built). So decoders are built once and reused: a call
    takes one and gives it back, reset, when it ends. Bounded by ``max_idle``."""

    def __init__(self, factory: Callable[[], Recognizer], max_idle: int = 16) -> None:
        self._factory = factory
        self._idle: list[Recognizer] = []
        self._lock = threading.Lock()
        self.max_idle = max_idle
        self.built = 0

    def _build(self) -> Recognizer:
        self.built += 1
        return self._factory()

    def warm(self) -> None:
        """Have one decoder ready (call off the event loop, e.g. in an executor)."""
        with self._lock:
            if self._idle:
                return
        self.give_back(self._build())

    def take(self) -> Recognizer:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._build()

    def give_back(self, recognizer: Recognizer) -> None:
        recognizer.reset()
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(recognizer)


recognizers = RecognizerPool(PocketsphinxRecognizer)
