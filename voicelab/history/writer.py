"""Stores a call while it runs, off the audio path.

Callers (the call's thread, the audio callbacks) only put items on a bounded queue and never
wait; one daemon thread applies the ops in batches and writes the audio. Every ``flush_s``
what arrived is committed, so a killed app loses only the last moments of a call. A storage
failure costs the history some writes, never the call.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.exc import InterfaceError, OperationalError

from voicelab.history.audio_file import StereoPcmFile
from voicelab.history.records import Op
from voicelab.history.store import HistoryStore

log = logging.getLogger(__name__)

_BATCH = 1000  # ops that make a batch due before its time
_MAX_OPEN_AUDIO = 16  # files open at once; the oldest is closed beyond this
_MAX_FAILURE_KINDS = 100  # bound on the set that keeps repeated failures out of the log


@dataclass(frozen=True)
class _Audio:
    call_id: str
    channel: int
    samples: np.ndarray
    at: float


@dataclass(frozen=True)
class _OpenAudio:
    call_id: str


@dataclass(frozen=True)
class _CloseAudio:
    call_id: str


@dataclass(frozen=True, eq=False)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True, eq=False)
class _Stop:
    done: threading.Event = field(default_factory=threading.Event)


_Item = Op | _Audio | _OpenAudio | _CloseAudio | _Flush | _Stop


class HistoryWriter:
    def __init__(self, store: HistoryStore, flush_s: float = 0.5, max_queue: int = 50_000) -> None:
        self.store = store
        self.flush_s = flush_s
        #: items refused because the queue was full (or the writer closed)
        self.dropped = 0
        #: failed ``store.apply`` calls and audio writes
        self.errors = 0
        #: ops that never reached the store because of a failure
        self.lost = 0
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._closed = False
        self._failure_kinds: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="voicelab-history", daemon=True)
        self._thread.start()
        _live.add(self)

    # any thread, never blocking ----------------------------------------------------------

    def submit(self, op: Op) -> None:
        self._put(op)

    def open_audio(self, call_id: str) -> None:
        self._put(_OpenAudio(call_id))

    def audio(self, call_id: str, channel: int, samples: np.ndarray, at: float) -> None:
        """``samples``: int16 mono at 48 kHz, copied (the caller may reuse its buffer)."""
        self._put(_Audio(call_id, channel, np.array(samples, dtype=np.int16).reshape(-1), at))

    def close_audio(self, call_id: str) -> None:
        self._put(_CloseAudio(call_id))

    def _put(self, item: _Item) -> None:
        if not self._closed:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                pass
        with self._lock:
            self.dropped += 1

    # blocking: tests and call end, never the audio path ----------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted before this call is stored; False on timeout."""
        if not self._thread.is_alive():
            return self._queue.empty()
        deadline = time.monotonic() + timeout
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 5.0) -> bool:
        """Store what is queued, close the audio files, stop the thread. False if that did
        not finish in time (the daemon thread then dies with the process)."""
        with self._lock:
            already = self._closed
            self._closed = True
        _live.discard(self)
        deadline = time.monotonic() + timeout
        if not already:
            marker = _Stop()
            try:
                self._queue.put(marker, timeout=timeout)
            except queue.Full:
                return False
            marker.done.wait(max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    # the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        ops: list[Op] = []
        files: dict[str, StereoPcmFile] = {}
        deadline = time.monotonic() + self.flush_s
        while True:
            try:
                item: _Item | None = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            try:
                if isinstance(item, _Stop):
                    self._stop(item, ops, files)
                    return
                if item is not None:
                    self._handle(item, ops, files)
                if len(ops) >= _BATCH:
                    self._apply(ops)
                if time.monotonic() >= deadline:
                    self._apply(ops)
                    self._flush_audio(files)
                    deadline = time.monotonic() + self.flush_s
            except Exception as exc:  # the thread must outlive any one bad item
                self._failed("writer", exc)

    def _handle(self, item: _Item, ops: list[Op], files: dict[str, StereoPcmFile]) -> None:
        if isinstance(item, _Audio):
            audio_file = files.get(item.call_id)
            if audio_file is not None:
                try:
                    audio_file.write(item.channel, item.samples, item.at)
                except Exception as exc:
                    self._failed("audio", exc)
        elif isinstance(item, _Flush):
            self._apply(ops)
            self._flush_audio(files)
            item.done.set()
        elif isinstance(item, _OpenAudio):
            if item.call_id not in files:
                while len(files) >= _MAX_OPEN_AUDIO:
                    self._close_audio(files, next(iter(files)))
                try:
                    files[item.call_id] = StereoPcmFile(self.store.audio_path(item.call_id))
                except Exception as exc:
                    self._failed("audio", exc)
        elif isinstance(item, _CloseAudio):
            self._close_audio(files, item.call_id)
        else:
            ops.append(item)

    def _stop(self, marker: _Stop, ops: list[Op], files: dict[str, StereoPcmFile]) -> None:
        try:
            # What slipped in while closing: stored too, and any flush waiting on it answered.
            with contextlib.suppress(queue.Empty):
                while True:
                    item = self._queue.get_nowait()
                    if not isinstance(item, _Stop):
                        self._handle(item, ops, files)
            self._apply(ops)
            for call_id in list(files):
                self._close_audio(files, call_id)
        finally:
            marker.done.set()

    def _apply(self, ops: list[Op]) -> None:
        if not ops:
            return
        batch = list(ops)
        ops.clear()
        try:
            self.store.apply(batch)
            return
        except Exception as exc:
            self._failed("store", exc)
            unavailable = isinstance(exc, OperationalError | InterfaceError)
        if unavailable or len(batch) == 1:
            # The database itself failed (locked, read-only, gone): each op alone would too.
            self.lost += len(batch)
            return
        # One bad op (say, a value JSON cannot hold) must not take its batch with it.
        for op in batch:
            try:
                self.store.apply([op])
            except Exception as exc:
                self._failed("store", exc)
                self.lost += 1

    def _flush_audio(self, files: dict[str, StereoPcmFile]) -> None:
        for audio_file in files.values():
            try:
                audio_file.flush()
            except Exception as exc:
                self._failed("audio", exc)

    def _close_audio(self, files: dict[str, StereoPcmFile], call_id: str) -> None:
        audio_file = files.pop(call_id, None)
        if audio_file is not None:
            try:
                audio_file.close()
            except Exception as exc:
                self._failed("audio", exc)

    def _failed(self, where: str, exc: BaseException) -> None:
        self.errors += 1
        kind = f"{where}:{type(exc).__module__}.{type(exc).__qualname__}"
        if kind in self._failure_kinds:
            log.debug("History %s failed again: %s", where, exc)
            return
        if len(self._failure_kinds) < _MAX_FAILURE_KINDS:
            self._failure_kinds.add(kind)
        log.exception(
            "History %s failed; the call goes on, its history may miss this", where, exc_info=exc
        )


_live: weakref.WeakSet[HistoryWriter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """A writer left open at exit still stores what it holds."""
    for writer in list(_live):
        writer.close(timeout=2.0)
