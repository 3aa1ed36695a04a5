"""Which way a peer connection's media goes, in words: the candidate pair ICE selected (aioice
keeps it as the nominated pair of each component) and what that means for a host ("relayed
through TURN", "direct"). aiortc has no public getter for the pair; this module is the one
place that reads it (``tests/test_core_units.py`` fails if an upgrade moves it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    #: From the peer's RTCP, once reports have come: the round trip the far end measured
    #: for our packets, and what we received of theirs.
    rtt_ms: float | None = None
    received: int | None = None
    lost: int | None = None
    jitter_ms: float | None = None

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
        return f"{leg}: {how}, ICE {self.state}{self._figures()}."

    def _figures(self) -> str:
        said = []
        if self.rtt_ms is not None:
            said.append(f"round trip {self.rtt_ms:.0f} ms")
        if self.received is not None and self.lost is not None:
            share = 100.0 * self.lost / max(1, self.received + self.lost)
            said.append(f"{self.lost:,} of {self.received + self.lost:,} packets lost "
                        f"({share:.1f} %)")  # fmt: skip
        if self.jitter_ms is not None:
            said.append(f"jitter {self.jitter_ms:.1f} ms")
        return "; " + ", ".join(said) if said else ""


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


#: The clock of Opus's RTP timestamps, in which aiortc reports jitter.
_RTP_CLOCK_PER_MS = 48.0


async def measured_route(pc: Any) -> IceRoute:
    """``ice_route`` with the RTCP figures of ``pc.getStats()``; on the peer's own loop."""
    route = ice_route(pc)
    rtt = received = lost = jitter = None
    for stats in (await pc.getStats()).values():
        kind = getattr(stats, "type", None)
        if kind == "remote-inbound-rtp" and getattr(stats, "roundTripTime", None) is not None:
            rtt = stats.roundTripTime * 1000.0
        elif kind == "inbound-rtp":
            received, lost = stats.packetsReceived, max(0, stats.packetsLost)
            jitter = stats.jitter / _RTP_CLOCK_PER_MS
    return replace(route, rtt_ms=rtt, received=received, lost=lost, jitter_ms=jitter)
