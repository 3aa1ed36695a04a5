"""Faults the local server can inject on request, so reliability work has something real to
survive: refused or slow signaling, ICE that never completes, a peer that vanishes, an event
channel that closes, garbage on it, synthesis that lags (or never comes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from voicelab.local.sender import Sender

#: What ``malformed_every`` sends before every n-th event.
GARBAGE: dict[str, str] = {
    "malformed": '{"type": "error", "event_id": ',  # cut off: not JSON
    "unknown": json.dumps({"type": "voicelab.injected.unknown_event", "note": "from the future"}),
    "oversized": json.dumps({"type": "voicelab.injected.oversized", "pad": "x" * 200_000}),
    "error": json.dumps(
        {
            "type": "error",
            "error": {
                "type": "server_error",
                "code": "injected_error",
                "message": "Injected fault: the server reported an error.",
            },
        }
    ),
}

#: HTTP statuses the signaling endpoint can be told to answer with, and OpenAI's body for each.
SDP_FAULTS: dict[int, tuple[str, str, str]] = {
    400: ("invalid_request_error", "invalid_offer", "Injected fault: the SDP offer was refused."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "model_not_available",
        "Your organization does not have access to this model.",
    ),
    429: (
        "rate_limit_exceeded",
        "rate_limit_exceeded",
        "Rate limit reached for realtime calls. Please try again in 2s.",
    ),
    500: ("server_error", "server_error", "The server had an error while processing your request."),
    503: (
        "server_error",
        "overloaded",
        "The engine is currently overloaded, please try again later.",
    ),
}


@dataclass(frozen=True)
class Faults:
    sdp_status: int | None = None
    sdp_delay_s: float = 0.0
    drop_after_s: float | None = None
    malformed_every: int | None = None
    garbage: str = "malformed"  # what ``malformed_every`` sends: a key of GARBAGE
    synth_delay_s: float = 0.0
    #: The answer offers host candidates nothing listens on: ICE checks, and never connects.
    ice_unreachable: bool = False
    #: The ``oai-events`` channel is closed (the peer stays) this long after it opened.
    close_channel_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.sdp_status is not None and self.sdp_status not in SDP_FAULTS:
            raise ValueError(f"sdp_status must be one of {sorted(SDP_FAULTS)}")
        if self.malformed_every is not None and self.malformed_every < 1:
            raise ValueError("malformed_every must be at least 1")
        if self.garbage not in GARBAGE:
            raise ValueError(f"garbage must be one of {sorted(GARBAGE)}")
        if min(self.sdp_delay_s, self.synth_delay_s) < 0:
            raise ValueError("delays cannot be negative")
        for after in (self.drop_after_s, self.close_channel_after_s):
            if after is not None and after <= 0:
                raise ValueError("drop_after_s and close_channel_after_s must be positive")

    def wrap(self, sender: Sender) -> Sender:
        """The sender with this call's faults on its way out."""
        if self.malformed_every is None:
            return sender
        return MalformedEvery(sender, self.malformed_every, GARBAGE[self.garbage])

    def unreachable(self, sdp: str) -> str:
        """The answer as sent: with ``ice_unreachable``, every candidate on port 9 (discard)."""
        if not self.ice_unreachable:
            return sdp
        lines = []
        for line in sdp.splitlines():
            if line.startswith("a=candidate:"):
                parts = line.split()
                parts[5] = "9"  # foundation component transport priority address PORT
                line = " ".join(parts)
            lines.append(line)
        return "\r\n".join(lines) + "\r\n"


class MalformedEvery:
    """Before every ``every``-th event sent, a piece of garbage (by default a message that
    is not JSON: a truncated one)."""

    def __init__(self, inner: Sender, every: int, garbage: str = GARBAGE["malformed"]) -> None:
        self.inner = inner
        self.every = every
        self.garbage = garbage
        self._count = 0

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    def send(self, event: dict[str, Any]) -> None:
        if not self.inner.is_open:
            return  # dropped: it does not count
        self._count += 1
        if self._count % self.every == 0:
            self.inner.send_raw(self.garbage)
        self.inner.send(event)

    def send_raw(self, data: str) -> None:
        self.inner.send_raw(data)
