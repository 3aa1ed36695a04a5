"""Offline speech recognition behind one small interface, so a better engine can drop in.

PocketSphinx's wheel carries an en-US acoustic model, language model and dictionary. Its
open-vocabulary accuracy on synthetic speech is roughly half the words (docs/local-server.md);
it is fed while the user speaks, so only ``end_utt`` remains when they stop.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import tempfile
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

RATE = 16_000


class Recognizer(Protocol):
    """Streaming recognizer for 16 kHz mono s16; not thread-safe, one per call."""

    def start(self) -> None: ...
    def feed(self, samples: np.ndarray) -> None: ...
    def partial(self) -> str: ...
    def finish(self) -> str: ...
    def reset(self) -> None: ...


#: Decoder options: fwdflat=False skips the second-pass search at end_utt (2-5 ms instead
#: of 60-140 ms on 3-4 s utterances, comparable accuracy on our test phrases); that search
#: sits between the end of the user's turn and the reply.
_OPTIONS: dict[str, Any] = {"samprate": RATE, "logfn": "/dev/null", "fwdflat": False}


class SharedModels:
    """What every decoder can share, loaded once per process. A decoder of its own loads
    the wheel's language model (about 64 MB in memory) and its 135,000-word dictionary;
    here the model is loaded once and shared (PocketSphinx counts its references), and the
    dictionary is cut to the 79,000 words the model knows (the others could never be
    recognised), written once to a temporary file, since the decoder reads a path. Sharing
    the model across threads is safe because the binding holds the GIL through every call
    into a decoder: no two decoders score at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: tuple[Any, str] | None = None

    def get(self) -> tuple[Any, str]:
        """(the language model, the path of the cut dictionary)."""
        with self._lock:
            if self._models is None:
                self._models = self._load()
            return self._models

    @staticmethod
    def _load() -> tuple[Any, str]:
        from pocketsphinx import Config, Decoder, NGramModel

        wheel = Config(**_OPTIONS)  # where the wheel's models are
        loader = Decoder(**_OPTIONS, lm=None)  # for its config and log tables, then gone
        lm = NGramModel(loader.config, loader.logmath, wheel["lm"])
        unknown = lm.prob(["voicelab-not-a-word"])
        with open(wheel["dict"], encoding="utf-8") as full:
            # "word(2) …" is the word's second pronunciation
            known = [
                line
                for line in full
                if lm.prob([re.sub(r"\(\d+\)$", "", line.split(" ", 1)[0])]) != unknown
            ]
        handle, path = tempfile.mkstemp(prefix="voicelab-", suffix=".dict")
        with os.fdopen(handle, "w", encoding="utf-8") as cut:
            cut.writelines(known)
        atexit.register(_remove, path)
        return lm, path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


shared_models = SharedModels()


class PocketsphinxRecognizer:
    def __init__(self) -> None:
        from pocketsphinx import Decoder

        lm, dictionary = shared_models.get()
        self._decoder = Decoder(**_OPTIONS, lm=None, dict=dictionary)
        self._decoder.add_lm("ngram", lm)
        self._decoder.activate_search("ngram")
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
    takes one and gives it back, reset, when it ends. Bounded by ``max_idle``: each decoder
    holds about 45 MB, so after the calls have hung up only a couple are kept ready."""

    def __init__(self, factory: Callable[[], Recognizer], max_idle: int = 2) -> None:
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
                return
        del recognizer
        _return_freed_memory()


def _return_freed_memory() -> None:
    """A decoder let go frees tens of MB in many small blocks, which glibc keeps for the
    process (RSS stayed at its peak after every call had hung up); hand them back."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


recognizers = RecognizerPool(PocketsphinxRecognizer)
