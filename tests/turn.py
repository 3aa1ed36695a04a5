"""Debian's coturn for the tests: ``turnserver`` on 127.0.0.1 and a free port, relaying
from 127.0.0.1, time-limited credentials from a shared secret (``use-auth-secret``), no TLS,
its log in a temporary folder; it dies with the process that started it."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import dies_with_parent, free_port

TURNSERVER = "/usr/bin/turnserver"
REALM = "voicelab"


@contextlib.contextmanager
def turn_server(secret: str) -> Iterator[tuple[str, Path]]:
    """Yields the server's ``turn:`` URL and its log file."""
    if not Path(TURNSERVER).exists():
        pytest.fail("This test needs Debian's coturn: apt-get install coturn")
    root = Path(tempfile.mkdtemp(prefix="voicelab-turn-"))
    port = free_port(socket.SOCK_DGRAM)
    log = root / "turn.log"
    proc = subprocess.Popen(
        [TURNSERVER, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}",
         "--relay-ip=127.0.0.1", "--min-port=49152", "--max-port=65535",
         "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}",
         "--fingerprint", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay",
         "--allow-loopback-peers", f"--log-file={log}", "--simple-log", "--verbose",
         f"--pidfile={root / 'turn.pid'}", f"--userdb={root / 'turn.db'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=dies_with_parent,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while "listener opened on" not in (log.read_text() if log.exists() else ""):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else ""
                raise AssertionError(f"coturn did not start: {text[-2000:]}")
            time.sleep(0.1)
        yield f"turn:127.0.0.1:{port}?transport=udp", log
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
