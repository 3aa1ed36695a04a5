"""Offline speech synthesis with eSpeak NG, driven through ctypes.

``espeakng-loader``'s wheel carries libespeak-ng and its data, so nothing is installed from
the system or downloaded. eSpeak is fast (2.4 s of speech in about 5 ms here) and reports
where each word starts in the audio, which is what paces the transcript deltas.

libespeak-ng keeps one global synthesizer, so every call goes through one lock.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    Union,
    c_char,
    c_char_p,
    c_int,
    c_short,
    c_size_t,
    c_uint,
    c_void_p,
)
from dataclasses import dataclass

import espeakng_loader
import numpy as np

from voicelab.media.frames import WEBRTC_RATE
from voicelab.media.resampling import resample

#: OpenAI's voice names mapped to distinct eSpeak NG voice variants (pitch and timbre).
VOICE_VARIANTS: dict[str, str] = {
    "alloy": "en-us+m1",
    "ash": "en-us+m3",
    "ballad": "en-us+m7",
    "coral": "en-us+f2",
    "echo": "en-us+m2",
    "sage": "en-us+f3",
    "shimmer": "en-us+f4",
    "verse": "en-us+m4",
    "marin": "en-us+f1",
    "cedar": "en-us+m6",
}

BASE_WPM = 175  # eSpeak's own default rate, taken as speed 1.0
MIN_WPM, MAX_WPM = 80, 450

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1


class _EventId(Union):
    _fields_ = (("number", c_int), ("name", c_char_p), ("string", c_char * 8))


class _Event(Structure):
    _fields_ = (
        ("type", c_int),
        ("unique_identifier", c_uint),
        ("text_position", c_int),
        ("length", c_int),
        ("audio_position", c_int),
        ("sample", c_int),
        ("user_data", c_void_p),
        ("id", _EventId),
    )


_CALLBACK = CFUNCTYPE(c_int, POINTER(c_short), c_int, POINTER(_Event))


@dataclass(frozen=True)
class WordMark:
    """A word of the text (``text[start:end]``) and where its audio begins."""

    start: int
    end: int
    audio_ms: int


@dataclass(frozen=True)
class Speech:
    text: str
    samples: np.ndarray  # 48 kHz mono s16
    words: tuple[WordMark, ...]

    @property
    def duration_ms(self) -> int:
        return len(self.samples) * 1000 // WEBRTC_RATE

    def heard_until(self, audio_ms: int) -> str:
        """The text a listener heard if playback stopped at ``audio_ms``: whole words whose
        audio had begun."""
        started = [w for w in self.words if w.audio_ms < audio_ms]
        return self.text[: started[-1].end] if started else ""


class Synthesizer:
    """Process-wide eSpeak NG; create it once (``synthesizer()``) and share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = (c_int, c_int, c_char_p, c_int)
        lib.espeak_SetVoiceByName.argtypes = (c_char_p,)
        lib.espeak_SetParameter.argtypes = (c_int, c_int, c_int)
        lib.espeak_Synth.argtypes = (
            c_void_p,
            c_size_t,
            c_uint,
            c_int,
            c_uint,
            c_uint,
            POINTER(c_uint),
            c_void_p,
        )
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise")
        self.native_rate = rate
        self._lib = lib
        self._chunks: list[np.ndarray] = []
        self._marks: list[tuple[int, int, int]] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, n, events) -> int:  # type: ignore[no-untyped-def]
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._marks.append((ev.text_position, ev.length, ev.audio_position))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str = "alloy", speed: float = 1.0) -> Speech:
        variant = VOICE_VARIANTS.get(voice, VOICE_VARIANTS["alloy"])
        wpm = int(np.clip(round(BASE_WPM * speed), MIN_WPM, MAX_WPM))
        raw = text.encode("utf-8")
        with self._lock:
            self._chunks, self._marks = [], []
            self._lib.espeak_SetVoiceByName(variant.encode())
            self._lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
            status = self._lib.espeak_Synth(
                raw, len(raw) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            chunks, marks = self._chunks, self._marks
        if status != 0:
            raise RuntimeError(f"eSpeak NG could not synthesise (status {status})")
        native = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        samples = resample(native, self.native_rate, WEBRTC_RATE)
        return Speech(text, samples, _word_marks(raw, marks))


def _word_marks(raw: bytes, marks: list[tuple[int, int, int]]) -> tuple[WordMark, ...]:
    """eSpeak counts text positions in bytes from 1; map them to str indices."""
    words = []
    for position, length, audio_ms in marks:
        start_b = max(position - 1, 0)
        start = len(raw[:start_b].decode("utf-8", "ignore"))
        end = start + len(raw[start_b : start_b + length].decode("utf-8", "ignore"))
        words.append(WordMark(start, end, audio_ms))
    return tuple(words)


_instance: Synthesizer | None = None
_instance_lock = threading.Lock()


def synthesizer() -> Synthesizer:
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = Synthesizer()
        return _instance
