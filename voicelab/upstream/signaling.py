"""The one HTTP exchange that starts a Realtime call, and the one that ends it.

Every failure becomes a ``SignalingError`` whose message a user can act on, carrying the
server's own words where it sent any. The API key is never part of a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from voicelab.upstream.transport import SetupError

DEFAULT_TIMEOUT_S = 20.0


class SignalingError(SetupError):
    """The HTTP exchange that starts or ends a call failed; ``str()`` is the sentence."""


@dataclass(frozen=True)
class CallAnswer:
    call_id: str
    sdp: str


def _server_message(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        error = response.json().get("error") or {}
        return error.get("message"), error.get("code")
    except (ValueError, AttributeError):
        return None, None


def _explain(response: httpx.Response) -> SignalingError:
    status = response.status_code
    said, code = _server_message(response)
    detail = f": {said}" if said else "."
    if status == 401:
        text = "The API key was rejected (401). Check the key in the sidebar or your secrets."
    elif status == 403:
        text = f"This key may not use the Realtime API (403){detail}"
    elif status == 404:
        text = f"The Realtime endpoint was not found (404): check the base URL{detail}"
    elif status == 429:
        text = f"Rate limited (429){detail} Wait a moment and start again."
    elif status == 400:
        text = f"The server refused the call setup (400){detail}"
    elif status >= 500:
        text = f"The Realtime service failed ({status}){detail} Try again shortly."
    else:
        text = f"Unexpected answer from the Realtime service ({status}){detail}"
    return SignalingError(text, status, code)


async def create_call(
    base_url: str,
    api_key: str,
    offer_sdp: str,
    session: dict[str, Any],
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CallAnswer:
    """POST the offer and the session; returns the call id and the SDP answer."""
    url = base_url.rstrip("/") + "/realtime/calls"
    files = {
        "sdp": (None, offer_sdp, "application/sdp"),
        "session": (None, json.dumps(session), "application/json"),
    }
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, files=files, headers=headers)
    except httpx.TimeoutException as exc:
        raise SignalingError(
            f"The Realtime service did not answer within {timeout_s:g} s. Try again."
        ) from exc
    except httpx.ConnectError as exc:
        raise SignalingError(
            f"Could not connect to {base_url}: is the server running and the URL right?"
        ) from exc
    except httpx.HTTPError as exc:
        raise SignalingError(
            f"The call setup failed on the network: {type(exc).__name__}."
        ) from exc
    if response.status_code not in (200, 201):
        raise _explain(response)
    sdp = response.text
    if not sdp.lstrip().startswith("v=0"):
        raise SignalingError(
            "The Realtime service answered with something that is not an SDP answer."
        )
    location = response.headers.get("Location", "")
    call_id = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
    return CallAnswer(call_id, sdp)


async def hang_up(base_url: str, api_key: str, call_id: str, timeout_s: float = 5.0) -> None:
    """End the call upstream, so it stops billing now rather than at an ICE timeout."""
    url = f"{base_url.rstrip('/')}/realtime/calls/{call_id}/hangup"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, headers={"Authorization": f"Bearer {api_key}"})
    except httpx.HTTPError as exc:
        raise SignalingError(f"Hanging up failed on the network: {type(exc).__name__}.") from exc
    if response.status_code == 404:
        return  # already gone
    if response.status_code != 200:
        raise _explain(response)
