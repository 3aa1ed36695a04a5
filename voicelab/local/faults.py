"""Faults the local server can inject on request, so reliability work has something real to
survive: refused or slow signaling, a peer that vanishes, garbage on the data channel,
synthesis that lags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicelab.local.sender import Sender

#: HTTP statuses the signaling endpoint can be told to answer with, and OpenAI's body for each.
SDP_FAULTS: dict[int, tuple[str, str, str]] = {
    400: ("invalid_request_error", "invalid_offer", "Injected fault: the SDP offer was refused."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    429: (
        "rate_limit_exceeded",
        "rate_limit_exceeded",
        "Rate limit reached for realtime calls. Please try again in 20s.",
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
    synth_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.sdp_status is not None and self.sdp_status not in SDP_FAULTS:
            raise ValueError(f"sdp_status must be one of {sorted(SDP_FAULTS)}")
        if self.malformed_every is not None and self.malformed_every < 1:
            raise ValueError("malformed_every must be at least 1")
        if min(self.sdp_delay_s, self.synth_delay_s) < 0:
            raise ValueError("delays cannot be negative")
        if self.drop_after_s is not None and self.drop_after_s <= 0:
            raise ValueError("drop_after_s must be positive")

    def wrap(self, sender: Sender) -> Sender:
        """The sender with this call's faults on its way out."""
        return (
            sender if self.malformed_every is None else MalformedEvery(sender, self.malformed_every)
        )


class MalformedEvery:
    """Before every ``every``-th event sent, a message that is not JSON (a truncated one)."""

    def __init__(self, inner: Sender, every: int) -> None:
        self.inner = inner
        self.every = every
        self._count = 0

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    def send(self, event: dict[str, Any]) -> None:
        if not self.inner.is_open:
            return  # dropped: it does not count
        self._count += 1
        if self._count % self.every == 0:
            self.inner.send_raw('{"type": "error", "event_id": ')
        self.inner.send(event)

    def send_raw(self, data: str) -> None:
        self.inner.send_raw(data)
