"""Handing the memory a finished call freed back to the system.

A call runs threads of its own (its loop, aiortc's decoder threads), and glibc gives busy
threads arenas of their own; what a call frees there stays in the process as free heap
that the next call's threads, in other arenas, do not reuse. Over 200 calls that kept RSS
growing by tens of MB with no Python object left behind. ``malloc_trim(0)`` after each call
returns it to the system (docs/performance.md, "Soak"). Where the C library has no
``malloc_trim`` (musl, macOS) there is nothing to do.
"""

from __future__ import annotations

import ctypes
import logging
import time

log = logging.getLogger(__name__)

_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
if _trim is not None:
    _trim.argtypes = [ctypes.c_size_t]
    _trim.restype = ctypes.c_int


def release() -> float | None:
    """Return free heap to the system; the seconds it took, or None where it cannot.

    glibc takes each arena's lock in turn, so a thread allocating meanwhile waits for one
    arena's trim at most (milliseconds); it runs as a call's thread ends, never on a
    running call's audio path."""
    if _trim is None:
        return None
    started = time.perf_counter()
    _trim(0)
    took = time.perf_counter() - started
    log.debug("free heap returned to the system in %.1f ms", took * 1000)
    return took
