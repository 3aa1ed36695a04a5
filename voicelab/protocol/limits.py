"""Limits the protocol sets, in one place: what a message may weigh, and the range of every
numeric session field (the client refuses out-of-range values before a call, the local
server refuses them on the wire, both from this table)."""

from __future__ import annotations

#: The data channel's (and OpenAI's) largest client event.
MAX_EVENT_BYTES = 64 * 1024
MAX_OUTPUT_TOKENS = 4096
#: OpenAI refuses to commit an input buffer holding less audio than this.
MIN_COMMIT_MS = 100

#: Inclusive (low, high) of each numeric field, by its name in the session.
RANGES: dict[str, tuple[float, float]] = {
    "threshold": (0.0, 1.0),
    "prefix_padding_ms": (0, 5000),
    "silence_duration_ms": (0, 10000),
    "idle_timeout_ms": (5000, 30000),
    "speed": (0.25, 1.5),
    "temperature": (0.0, 2.0),
    "max_output_tokens": (1, MAX_OUTPUT_TOKENS),
}
