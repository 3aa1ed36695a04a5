"""What every server a test starts needs: a free port on 127.0.0.1, chosen at run time, and
a process that dies with the test process (``PR_SET_PDEATHSIG``), so a killed run leaves no
server behind."""

from __future__ import annotations

import ctypes
import signal
import socket

_PR_SET_PDEATHSIG = 1


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dies_with_parent() -> None:
    """For ``preexec_fn``, after any change of user (a change of credentials clears it)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
