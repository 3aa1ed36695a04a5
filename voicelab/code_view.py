"""The current session as something to copy: its JSON, and a short Python program that
starts the same call with httpx. Neither ever holds the key: the program reads it from the
environment."""

from __future__ import annotations

import json
from typing import Any

_TEMPLATE = '''"""Start a Realtime call with this session (WebRTC signaling with httpx)."""
import json
import os

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription

SESSION = json.loads({session_literal})


async def start_call() -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    response = httpx.post(
        "{base_url}/realtime/calls",
        headers={{"Authorization": f"Bearer {{os.environ['OPENAI_API_KEY']}}"}},
        files={{
            "sdp": (None, pc.localDescription.sdp, "application/sdp"),
            "session": (None, json.dumps(SESSION), "application/json"),
        }},
        timeout=20,
    )
    response.raise_for_status()
    await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
    return pc
'''


def session_json(session: dict[str, Any]) -> str:
    return json.dumps(session, indent=2)


def python_snippet(session: dict[str, Any], base_url: str) -> str:
    return _TEMPLATE.format(
        session_literal=repr(json.dumps(session)), base_url=base_url.rstrip("/")
    )
