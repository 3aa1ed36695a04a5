"""The local Realtime endpoint over HTTP: OpenAI's ``/v1/realtime/calls`` signaling.

Start it from Python (``LocalServer`` on a running loop, ``LocalServerThread`` on a loop of
its own, as the app does) or from the command line (``voicelab serve-local``). It binds to
127.0.0.1 by default; a port of 0 picks a free one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
from dataclasses import dataclass, field

from aiohttp import web

from voicelab.local.call import RealtimeCall
from voicelab.local.errors import RealtimeError
from voicelab.local.faults import SDP_FAULTS, Faults
from voicelab.local.recognizer import recognizers
from voicelab.local.responder import LocalResponder, Responder
from voicelab.local.session import Session
from voicelab.media import patches
from voicelab.protocol import wire_json
from voicelab.protocol.ids import new_id

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_CALLS = 16  # each call holds a recognizer and a worker thread: bounded


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None  # None: any bearer token is accepted, but one is required
    max_call_s: float = 60 * 60
    faults: Faults = field(default_factory=Faults)
    responder: Responder = field(default_factory=LocalResponder)


def _error(status: int, error: RealtimeError) -> web.Response:
    return web.json_response(error.body(), status=status)


class LocalServer:
    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.calls: dict[str, RealtimeCall] = {}
        self.ended_calls = 0
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/realtime/calls", self._create_call)
        app.router.add_get("/v1/realtime/calls", self._list_calls)
        app.router.add_post("/v1/realtime/calls/{call_id}/hangup", self._hangup)
        app.router.add_get("/healthz", self._health)
        return app

    async def start(self) -> int:
        patches.install()
        # Build a decoder now, so the first call's setup does not wait ~300 ms for one.
        await asyncio.get_running_loop().run_in_executor(None, recognizers.warm)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            await call.end()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- handlers ----------------------------------------------------------------------

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return _error(
                401,
                RealtimeError(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                    "YOUR_KEY).",
                    None,
                ),
            )
        expected = self.options.api_key
        if expected is not None and not hmac.compare_digest(
            header[7:].strip().encode(), expected.encode()
        ):
            return _error(401, RealtimeError("Incorrect API key provided.", "invalid_api_key"))
        return None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "calls": len(self.calls)})

    async def _list_calls(self, request: web.Request) -> web.Response:
        """Not in OpenAI's API: lets tests and the app see which calls are still open."""
        if (denied := self._auth(request)) is not None:
            return denied
        data = [{"id": c.id, "object": "realtime.call"} for c in self.calls.values()]
        return web.json_response({"object": "list", "data": data})

    async def _create_call(self, request: web.Request) -> web.Response:
        try:
            return await self._create_call_checked(request)
        except RealtimeError as exc:
            return _error(400, exc)
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(
                400, RealtimeError(f"The request could not be read: {exc}.", "invalid_request")
            )
        except web.HTTPRequestEntityTooLarge:
            return _error(413, RealtimeError("The request body is too large.", "request_too_large"))
        except ConnectionError:
            # The client went away mid-request (a closed tab, a dropped network): nobody
            # reads this answer, and it is nothing the server did wrong.
            log.info("a client went away before its call request was read")
            return _error(
                400, RealtimeError("The request ended before it was read.", "invalid_request")
            )
        except Exception:  # never a 500 without a body, never a hang
            log.exception("creating a call failed")
            return _error(
                500,
                RealtimeError(
                    "The server had an error while processing your request.",
                    "server_error",
                    type="server_error",
                ),
            )

    async def _create_call_checked(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        faults = self.options.faults
        if faults.sdp_delay_s:
            await asyncio.sleep(faults.sdp_delay_s)
        if faults.sdp_status is not None:
            kind, code, message = SDP_FAULTS[faults.sdp_status]
            return _error(faults.sdp_status, RealtimeError(message, code, type=kind))
        offer, session_json = await self._read_offer(request)
        if len(self.calls) >= MAX_CALLS:
            return _error(
                429,
                RealtimeError(
                    f"The local server holds at most {MAX_CALLS} calls at once.",
                    "rate_limit_exceeded",
                    type="rate_limit_exceeded",
                ),
            )
        session = self._session(session_json)
        if not offer.lstrip().startswith("v=0") or "m=" not in offer:
            raise RealtimeError("The 'sdp' part is not an SDP offer.", "invalid_offer", "sdp")
        call = RealtimeCall(
            new_id("rtc"),
            session,
            self.options.responder,
            faults,
            self.options.max_call_s,
            self._call_ended,
        )
        self.calls[call.id] = call
        try:
            answer = await asyncio.wait_for(call.answer(offer), timeout=20)
        except RealtimeError:
            await call.end()
            raise
        except Exception as exc:
            await call.end()
            raise RealtimeError(
                f"The SDP offer could not be used: {exc}", "invalid_offer", "sdp"
            ) from exc
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={"Location": f"/v1/realtime/calls/{call.id}"},
        )

    def _session(self, session_json: str | None) -> Session:
        """The call's session: the defaults, with the offer's ``session`` part applied."""
        session = Session(self.options.max_call_s)
        if session_json is None:
            return session
        try:
            parsed = wire_json.loads(session_json)
        except wire_json.TooDeep as exc:
            raise RealtimeError(
                f"We could not parse the JSON body of the 'session' part: {exc}.",
                "invalid_json",
                "session",
            ) from exc
        except ValueError as exc:
            raise RealtimeError(
                "We could not parse the JSON body of the 'session' part.",
                "invalid_json",
                "session",
            ) from exc
        session.apply(parsed, initial=True)
        return session

    async def _read_offer(self, request: web.Request) -> tuple[str, str | None]:
        ctype = request.content_type
        if ctype == "multipart/form-data":
            offer: str | None = None
            session: str | None = None
            reader = await request.multipart()
            async for part in reader:
                if part.name == "sdp":  # type: ignore[union-attr]
                    offer = await part.text()  # type: ignore[union-attr]
                elif part.name == "session":  # type: ignore[union-attr]
                    session = await part.text()  # type: ignore[union-attr]
            if offer is None:
                raise RealtimeError(
                    "Missing required parameter: 'sdp'.", "missing_required_parameter", "sdp"
                )
            return offer, session
        if ctype == "application/sdp":
            body = await request.read()
            try:
                return body.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                raise RealtimeError(
                    "The SDP offer is not UTF-8 text.", "invalid_offer", "sdp"
                ) from exc
        raise RealtimeError(
            "Unsupported content type: send multipart/form-data with 'sdp' and 'session' "
            "parts, or an application/sdp body.",
            "unsupported_content_type",
        )

    async def _hangup(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        call = self.calls.get(request.match_info["call_id"])
        if call is None:
            return _error(
                404,
                RealtimeError(
                    f"No call found with id '{request.match_info['call_id']}'.",
                    "call_not_found",
                    "call_id",
                ),
            )
        await call.end()
        return web.json_response({})

    def _call_ended(self, call: RealtimeCall) -> None:
        if self.calls.pop(call.id, None) is not None:
            self.ended_calls += 1


class LocalServerThread:
    """A ``LocalServer`` on its own loop in a daemon thread, for synchronous hosts (the
    Streamlit app, scripts)."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.server = LocalServer(options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="local-realtime"
        )

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def start(self, timeout: float = 10.0) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout)
        return self.base_url

    def call_ids(self) -> list[str]:
        async def ids() -> list[str]:
            return list(self.server.calls)

        return asyncio.run_coroutine_threadsafe(ids(), self._loop).result(5)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)


def run_forever(options: ServerOptions, exit_after_s: float | None = None) -> None:
    """The CLI's server: runs until interrupted, or for ``exit_after_s`` seconds."""

    async def main() -> None:
        server = LocalServer(options)
        port = await server.start()
        print(f"Local Realtime server on http://{options.host}:{port}/v1", flush=True)
        try:
            if exit_after_s is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(exit_after_s)
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
