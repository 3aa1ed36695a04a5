"""The HTTP route the page's live view reads: ``GET <base>/api/voicelab/live/<token>?from=<n>``
answers ``feed.feed`` of the visitor's bridge as JSON, with its turns from the n-th on
(the ones the page has not drawn).

Each bridge gets an unguessable token when the page first asks for one; only that
visitor's page is given it, so one visitor cannot read another's call. The endpoint is
synchronous, so Starlette runs it on its thread pool, not on the event loop that carries
every browser leg.
"""

from __future__ import annotations

import secrets
import threading
import weakref

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from components.live.feed import feed
from voicelab.call import Bridge

PATH = "/api/voicelab/live/"

_lock = threading.Lock()
_bridges: weakref.WeakValueDictionary[str, Bridge] = weakref.WeakValueDictionary()
_tokens: weakref.WeakKeyDictionary[Bridge, str] = weakref.WeakKeyDictionary()


def token(bridge: Bridge) -> str:
    """The bridge's token, made on first use; forgotten with the bridge."""
    with _lock:
        known = _tokens.get(bridge)
        if known is None:
            known = secrets.token_urlsafe(24)
            _tokens[bridge] = known
            _bridges[known] = bridge
        return known


def url(base_url_path: str, bridge: Bridge) -> str:
    """The path the page fetches, under Streamlit's ``server.baseUrlPath``."""
    base = base_url_path.strip("/")
    return f"{'/' + base if base else ''}{PATH}{token(bridge)}"


def _live(request: Request) -> Response:
    bridge = _bridges.get(request.path_params["token"])
    if bridge is None:
        # A page left open after its session ended: it stops asking.
        return JSONResponse({"error": "This call's page has expired; reload it."}, 404)
    try:
        first_turn = max(0, int(request.query_params.get("from", "0")))
    except ValueError:
        return JSONResponse({"error": "'from' must be a whole number of turns."}, 400)
    return JSONResponse(feed(bridge, first_turn), headers={"Cache-Control": "no-store"})


def routes(base_url_path: str) -> list[Route]:
    base = base_url_path.strip("/")
    return [Route(f"{'/' + base if base else ''}{PATH}{{token}}", _live, methods=["GET"])]
