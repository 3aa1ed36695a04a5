"""Which way a peer connection's media goes, in words: the candidate pair ICE selected (aioice
keeps it as the nominated pair of each component) and what that means for a host ("relayed
through TURN", "direct"). aiortc has no public getter for the pair; this module is the one
place that reads it (``tests/test_core_units.py`` fails if an upgrade moves it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: What each candidate type says about the path, as a person would put it.
KINDS = {
    "host": "direct",
    "srflx": "direct, through the far side's NAT",
    "prflx": "direct, through a NAT",
    "relay": "relayed through TURN",
}


@dataclass(frozen=True)
class IceRoute:
    state: str  # the ICE connection state
    local_type: str | None = None  # this end's candidate in the selected pair
    remote_type: str | None = None  # the far end's
    remote_address: str | None = None

    @property
    def relayed(self) -> bool:
        return "relay" in (self.local_type, self.remote_type)

    def words(self, leg: str) -> str:
        """One line for the diagnostics panel, e.g. "Browser leg: relayed through TURN
        (the browser's relay candidate 10.0.0.5:49152)"."""
        if self.local_type is None or self.remote_type is None:
            return f"{leg}: no media path yet (ICE {self.state})."
        if self.relayed:
            side = "the far side's" if self.remote_type == "relay" else "this server's"
            how = f"relayed through TURN ({side} relay candidate {self.remote_address})"
        else:
            how = f"{KINDS.get(self.remote_type, self.remote_type)} ({self.remote_address})"
        return f"{leg}: {how}, ICE {self.state}."


def ice_route(pc: Any) -> IceRoute:
    """The route of an aiortc ``RTCPeerConnection``'s first transport, as it is now."""
    state = getattr(pc, "iceConnectionState", "new")
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport
        connection = getattr(getattr(transport, "transport", None), "_connection", None)
        nominated = getattr(connection, "_nominated", None) or {}
        for pair in nominated.values():
            local, remote = pair.local_candidate, pair.remote_candidate
            return IceRoute(state, local.type, _signalled_type(connection, remote),
                            f"{remote.host}:{remote.port}")  # fmt: skip
    return IceRoute(state)


def _signalled_type(connection: Any, remote: Any) -> str:
    """A check that arrives before the candidate it came from was signalled makes a
    peer-reflexive candidate of it; the far side's own word for that address wins."""
    if remote.type == "prflx":
        for known in getattr(connection, "_remote_candidates", ()):
            if (known.host, known.port) == (remote.host, remote.port):
                return known.type
    return remote.type
