"""The current session as something to copy: its JSON, and a short Python program that
starts the same call against a given endpoint with httpx and aiortc. Neither ever holds the
key: the program reads it from an environment variable."""

from __future__ import annotations

import json
from typing import Any

_TEMPLATE = '''"""Start a Realtime call with this session: signaling with httpx, media with aiortc.
Run it to open the call, print the server's first event, and hang up."""
import asyncio
import json
import os

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

CALLS_URL = "{base_url}/realtime/calls"
SESSION = json.loads({session_literal})


def headers():
    return {{"Authorization": f"Bearer {{os.environ['{key_env}']}}"}}


async def start_call():
    """The peer, its event channel, and the call's id (to hang up with)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    channel = pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            CALLS_URL,
            headers=headers(),
            files={{
                "sdp": (None, pc.localDescription.sdp, "application/sdp"),
                "session": (None, json.dumps(SESSION), "application/json"),
            }},
        )
    response.raise_for_status()
    await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
    return pc, channel, response.headers["Location"].rsplit("/", 1)[-1]


async def main():
    pc, channel, call_id = await start_call()
    first = asyncio.get_running_loop().create_future()

    @channel.on("message")
    def on_message(message):
        if not first.done():
            first.set_result(json.loads(message))

    print(call_id, (await asyncio.wait_for(first, 15))["type"])
    async with httpx.AsyncClient(timeout=5) as client:
        await client.post(f"{{CALLS_URL}}/{{call_id}}/hangup", headers=headers())
    await pc.close()


if __name__ == "__main__":
    asyncio.run(main())
'''


def session_json(session: dict[str, Any]) -> str:
    return json.dumps(session, indent=2)


def python_snippet(session: dict[str, Any], base_url: str, key_env: str = "OPENAI_API_KEY") -> str:
    """A program that opens the call at ``base_url`` with the key in the environment
    variable ``key_env``."""
    return _TEMPLATE.format(
        session_literal=repr(json.dumps(session)), base_url=base_url.rstrip("/"), key_env=key_env
    )
