"""How the local server reads ``turn_detection.threshold``: as a loudness its VAD needs.

OpenAI documents the threshold as "a higher threshold will require louder audio to
activate the model". The local server scores each window ``p_speech × loudness``, where
loudness rises linearly from 0 at ``QUIET_DBFS`` to 1 at ``LOUD_DBFS``. So a threshold is,
for clear speech, a level: the VAD timeline draws it, and the server's VAD uses it.
"""

from __future__ import annotations

from typing import Any

QUIET_DBFS = -65.0
LOUD_DBFS = -30.0


def loudness(dbfs: float) -> float:
    return min(1.0, max(0.0, (dbfs - QUIET_DBFS) / (LOUD_DBFS - QUIET_DBFS)))


def threshold_dbfs(threshold: float) -> float:
    """The level clear speech must reach to count at ``threshold`` (-47.5 dBFS at 0.5)."""
    return QUIET_DBFS + threshold * (LOUD_DBFS - QUIET_DBFS)


def threshold_level(backend: str, session: dict[str, Any] | None) -> float | None:
    """The level the threshold in force asks of clear speech, for the local backend's
    server VAD; None where it is not a level (OpenAI's VAD, semantic VAD, no VAD)."""
    turn = (session or {}).get("audio", {}).get("input", {}).get("turn_detection")
    if backend != "local" or not isinstance(turn, dict) or turn.get("type") != "server_vad":
        return None
    threshold = turn.get("threshold")
    return threshold_dbfs(threshold) if isinstance(threshold, (int, float)) else None
