"""The app's side of a browser leg as streamlit-webrtc builds it: its own offer handler
(``_process_offer_coro``, SENDRECV) with Voice Lab's sink into a bridge and the bridge's
output track as the source, or, with no bridge, a plain echo (the frames received, sent
back unchanged). For tests and benchmarks whose pages live in another process."""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from streamlit_webrtc import WebRtcMode
from streamlit_webrtc.sink import AudioSinkTrack
from streamlit_webrtc.webrtc import _process_offer_coro

from voicelab.call import Bridge

#: streamlit-webrtc's relay is one aiortc MediaRelay per process (it asks Streamlit's
#: runtime for it, which these processes do not run).
RELAY = MediaRelay()


async def answer(offer_sdp: str, bridge: Bridge | None) -> tuple[RTCPeerConnection, str]:
    """The server-side peer for one page's offer, and its answer."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    source = sink = None
    if bridge is not None:
        sink = AudioSinkTrack(callback=bridge.on_browser_frame)  # what the app's factory makes
        sink._on_ended_callback = bridge.on_browser_ended
        source = bridge.output_track()
    described = await _process_offer_coro(
        WebRtcMode.SENDRECV, pc, RTCSessionDescription(offer_sdp, "offer"), RELAY,
        None, source, None, sink, None, None, None, None, None, None,
        False, True, True, lambda *_: None, asyncio.Event(),
    )  # fmt: skip
    return pc, described.sdp
