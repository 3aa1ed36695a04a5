"""A minimal OpenID Connect provider on loopback for the sign-in tests, so ``st.login`` runs its
real flow (discovery, authorization code with PKCE, token exchange, ID token signature and
claims checks, RP-initiated logout) against a real server instead of a mock.

The provider serves one client, signs ID tokens with an RSA key made at start, and shows a
one-field form ("Email", "Sign in") in place of a password page: whoever types an address is
signed in as that address. It listens on 127.0.0.1 only and never makes a request itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote_plus, urlencode, urlsplit

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

# How long each thing the provider hands out stays good, in seconds.
PENDING_LIFETIME = 600.0  # an opened sign-in page
CODE_LIFETIME = 60.0  # an authorization code
TOKEN_LIFETIME = 3600  # an access token and an ID token

# At most this many of each kept thing; the oldest goes first.
MAX_KEPT = 1000

SCOPES = ["openid", "email", "profile"]
CLAIMS = [
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "auth_time",
    "nonce",
    "at_hash",
    "email",
    "email_verified",
    "name",
]
PAGE_TITLE = "Test identity provider"

_T = TypeVar("_T")


@dataclass
class Provider:
    """What a test needs of a running provider: where it is, and what it was asked."""

    url: str
    client_id: str
    #: One entry per POST /token, in order: grant_type, client_id, auth_method
    #: ("client_secret_basic", "client_secret_post" or None), code_verifier_sent,
    #: pkce_verified, error (None when tokens were issued) and email (when issued).
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    #: The email of every sign-in (POST /authorize/decide), in order.
    sign_ins: list[str] = field(default_factory=list)
    #: The query of every GET /logout, in order.
    logouts: list[dict[str, str]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """The ``iss`` of every ID token; OIDC discovery requires it to equal the base URL."""
        return self.url

    @property
    def metadata_url(self) -> str:
        """What ``server_metadata_url`` in Streamlit's ``[auth]`` secrets points at."""
        return f"{self.url}/.well-known/openid-configuration"


@dataclass
class _Pending:
    """An /authorize request waiting for the form, so the form carries only a one-time id."""

    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float


@dataclass
class _Grant:
    """An authorization code's binding, checked again at /token."""

    client_id: str
    redirect_uri: str
    nonce: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    email: str
    auth_time: int
    expires_at: float


@dataclass
class _Issued:
    """An access token, for /userinfo."""

    email: str
    expires_at: float


def subject_for(email: str) -> str:
    """The ``sub`` of an email: stable across sign-ins, as a real provider's user id is."""
    return "user-" + hashlib.sha256(email.encode()).hexdigest()[:16]


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _half_hash(value: str) -> str:
    """OIDC's ``at_hash`` for RS256: base64url of the left half of sha256, without padding."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _keep(store: OrderedDict[str, _T], key: str, value: _T) -> None:
    """Adds to a bounded store: a test that loops sign-ins must not grow the provider."""
    store[key] = value
    while len(store) > MAX_KEPT:
        store.popitem(last=False)


def _record(log: list[_T], item: _T) -> None:
    """Appends to a bounded record, dropping the oldest."""
    log.append(item)
    if len(log) > MAX_KEPT:
        del log[: len(log) - MAX_KEPT]


def _bad_request(sentence: str) -> web.Response:
    """A browser-facing refusal: a person (or a test's page text) should read why."""
    return web.Response(status=400, text=sentence)


def _oauth_error(
    error: str, status: int = 400, headers: dict[str, str] | None = None
) -> web.Response:
    """A token-endpoint refusal in RFC 6749's JSON shape, which Authlib raises as OAuthError."""
    return web.json_response(
        {"error": error}, status=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


def _redirect(location: str) -> web.Response:
    """A plain 302 (no exception), as the browser and Streamlit expect."""
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _with_query(uri: str, params: dict[str, str]) -> str:
    """Adds parameters to a URI that may already have a query."""
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(params)


def _page(body: str) -> web.Response:
    """A small HTML page with the provider's title."""
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{PAGE_TITLE}</title></head>\n<body><main>\n<h1>{PAGE_TITLE}</h1>\n"
        f"{body}\n</main></body></html>\n"
    )
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})


class _Server:
    """The provider's handlers and state; runs on the provider's own loop only."""

    def __init__(self, provider: Provider, client_secret: str) -> None:
        self.provider = provider
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"}
        )
        self.pending: OrderedDict[str, _Pending] = OrderedDict()
        self.grants: OrderedDict[str, _Grant] = OrderedDict()
        self.issued: OrderedDict[str, _Issued] = OrderedDict()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/authorize/decide", self.decide)
        app.router.add_post("/token", self.token)
        app.router.add_get("/jwks", self.jwks)
        app.router.add_get("/userinfo", self.userinfo)
        app.router.add_get("/logout", self.logout)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        """OIDC discovery: Authlib reads every endpoint from here, and Streamlit turns PKCE on
        only because ``code_challenge_methods_supported`` lists S256."""
        url = self.provider.url
        return web.json_response(
            {
                "issuer": self.provider.issuer,
                "authorization_endpoint": f"{url}/authorize",
                "token_endpoint": f"{url}/token",
                "jwks_uri": f"{url}/jwks",
                "userinfo_endpoint": f"{url}/userinfo",
                "end_session_endpoint": f"{url}/logout",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": SCOPES,
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": CLAIMS,
            }
        )

    async def authorize(self, request: web.Request) -> web.Response:
        """Checks the authorization request and shows the sign-in form for it."""
        query = request.query
        if query.get("response_type") != "code":
            return _bad_request("Only the authorization code flow (response_type=code) is served.")
        if query.get("client_id") != self.provider.client_id:
            return _bad_request("The client_id is not a client of this provider.")
        redirect_uri = query.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            return _bad_request(
                "The redirect_uri must be an absolute http(s) URL without fragment."
            )
        scope = query.get("scope", "")
        if "openid" not in scope.split():
            return _bad_request("The scope must include openid.")
        state, nonce = query.get("state"), query.get("nonce")
        if not state:
            return _bad_request("The state parameter is missing.")
        if not nonce:
            return _bad_request("The nonce parameter is missing.")
        challenge = query.get("code_challenge") or None
        method = query.get("code_challenge_method") or None
        if challenge is not None and method != "S256":
            return _bad_request("Only the S256 code_challenge_method is supported.")
        if challenge is None and method is not None:
            return _bad_request("A code_challenge_method came without a code_challenge.")

        request_id = secrets.token_urlsafe(24)
        _keep(
            self.pending,
            request_id,
            _Pending(
                client_id=self.provider.client_id,
                redirect_uri=redirect_uri,
                state=state,
                nonce=nonce,
                scope=scope,
                code_challenge=challenge,
                code_challenge_method=method,
                expires_at=time.monotonic() + PENDING_LIFETIME,
            ),
        )
        return _page(
            '<form method="post" action="/authorize/decide">\n'
            f'<input type="hidden" name="request" value="{html.escape(request_id)}">\n'
            '<label for="email">Email</label>\n'
            '<input type="text" id="email" name="email" aria-label="Email" autocomplete="email" '
            "required>\n"
            '<button type="submit">Sign in</button>\n'
            "</form>"
        )

    async def decide(self, request: web.Request) -> web.Response:
        """Signs the typed email in: makes a one-time code and sends the browser back."""
        form = await request.post()
        request_id = str(form.get("request", ""))
        email = str(form.get("email", "")).strip()
        pending = self.pending.pop(request_id, None)
        if pending is None or pending.expires_at < time.monotonic():
            return _bad_request("This sign-in request is unknown, used or expired.")
        if "@" not in email:
            return _bad_request("An email address is needed to sign in.")

        code = secrets.token_urlsafe(32)
        _keep(
            self.grants,
            code,
            _Grant(
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                nonce=pending.nonce,
                scope=pending.scope,
                code_challenge=pending.code_challenge,
                code_challenge_method=pending.code_challenge_method,
                email=email,
                auth_time=int(time.time()),
                expires_at=time.monotonic() + CODE_LIFETIME,
            ),
        )
        _record(self.provider.sign_ins, email)
        return _redirect(_with_query(pending.redirect_uri, {"code": code, "state": pending.state}))

    def _client(self, request: web.Request, form: Any) -> tuple[str | None, str | None, str | None]:
        """Reads the client's credentials: (client_id, client_secret, auth_method).

        Authlib sends ``client_secret_basic`` as ``id:secret`` without the form-encoding RFC 6749
        section 2.3.1 asks for, so both the raw and the decoded pair are accepted."""
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except ValueError:
                return None, None, "client_secret_basic"
            client_id, sep, secret = decoded.partition(":")
            if not sep:
                return None, None, "client_secret_basic"
            if not self._matches(client_id, secret):
                client_id, secret = unquote_plus(client_id), unquote_plus(secret)
            return client_id, secret, "client_secret_basic"
        if "client_secret" in form:
            return str(form.get("client_id", "")), str(form["client_secret"]), "client_secret_post"
        return (str(form["client_id"]) if "client_id" in form else None), None, None

    def _matches(self, client_id: str, secret: str | None) -> bool:
        """Constant-time comparison of both credentials."""
        return (
            secret is not None
            and hmac.compare_digest(client_id.encode(), self.provider.client_id.encode())
            and hmac.compare_digest(secret.encode(), self.client_secret.encode())
        )

    async def token(self, request: web.Request) -> web.Response:
        """Exchanges a code for tokens, checking client, code binding and PKCE verifier."""
        form = await request.post()
        client_id, secret, auth_method = self._client(request, form)
        verifier = str(form["code_verifier"]) if "code_verifier" in form else None
        entry: dict[str, Any] = {
            "grant_type": form.get("grant_type"),
            "client_id": client_id,
            "auth_method": auth_method,
            "code_verifier_sent": verifier is not None,
            "pkce_verified": False,
            "error": None,
        }
        _record(self.provider.token_requests, entry)

        def refuse(
            error: str, status: int = 400, headers: dict[str, str] | None = None
        ) -> web.Response:
            entry["error"] = error
            return _oauth_error(error, status, headers)

        if client_id is None or not self._matches(client_id, secret):
            # RFC 6749 section 5.2: a 401 names the scheme the client may authenticate with.
            return refuse("invalid_client", 401, {"WWW-Authenticate": 'Basic realm="token"'})
        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type")
        code = str(form.get("code", ""))
        if not code:
            return refuse("invalid_request")
        # Popped before any check: a code is spent by its first use, right or wrong.
        grant = self.grants.pop(code, None)
        if (
            grant is None
            or grant.expires_at < time.monotonic()
            or grant.client_id != client_id
            or form.get("redirect_uri") != grant.redirect_uri
        ):
            return refuse("invalid_grant")
        if grant.code_challenge is not None:
            if verifier is None or not hmac.compare_digest(
                s256(verifier).encode(), grant.code_challenge.encode()
            ):
                return refuse("invalid_grant")
            entry["pkce_verified"] = True

        access_token = secrets.token_urlsafe(32)
        _keep(
            self.issued,
            access_token,
            _Issued(email=grant.email, expires_at=time.monotonic() + TOKEN_LIFETIME),
        )
        entry["email"] = grant.email
        return web.json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "scope": grant.scope,
                "id_token": self._id_token(grant, access_token),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        """The RS256 ID token Authlib verifies against /jwks and checks claim by claim."""
        now = int(time.time())
        claims = {
            "iss": self.provider.issuer,
            "sub": subject_for(grant.email),
            "aud": grant.client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "auth_time": grant.auth_time,
            "nonce": grant.nonce,
            "at_hash": _half_hash(access_token),
            **_profile(grant.email),
        }
        header = {"alg": "RS256", "kid": self.key.kid}
        return jwt.encode(header, claims, self.key, algorithms=["RS256"])

    async def jwks(self, request: web.Request) -> web.Response:
        """The public half of the signing key, with the kid the ID token names."""
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def userinfo(self, request: web.Request) -> web.Response:
        """The signed-in user's claims for a live Bearer access token."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        issued = self.issued.get(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None or issued.expires_at < time.monotonic():
            return web.json_response(
                {"error": "invalid_token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return web.json_response({"sub": subject_for(issued.email), **_profile(issued.email)})

    async def logout(self, request: web.Request) -> web.Response:
        """RP-initiated logout: records the call, then returns to the app if it asked to."""
        query = {key: request.query[key] for key in request.query}
        _record(self.provider.logouts, query)
        target = query.get("post_logout_redirect_uri")
        if target:
            state = query.get("state")
            return _redirect(_with_query(target, {"state": state}) if state else target)
        return _page("<p>Signed out</p>")


def _profile(email: str) -> dict[str, Any]:
    """The profile claims shared by the ID token and /userinfo."""
    return {"email": email, "email_verified": True, "name": email.split("@", 1)[0]}


async def _start(server: _Server) -> tuple[web.AppRunner, int]:
    """Binds port 0 on loopback and reads back the port the system chose."""
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


@contextlib.contextmanager
def oidc_provider(client_id: str, client_secret: str) -> Iterator[Provider]:
    """Runs a provider for one client on its own loop in a daemon thread, so it answers while
    the test (sync or async) and Streamlit's server run elsewhere; stops it on exit."""
    provider = Provider(url="", client_id=client_id)
    server = _Server(provider, client_secret)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="oidc-provider", daemon=True)
    thread.start()
    runner: web.AppRunner | None = None
    try:
        runner, port = asyncio.run_coroutine_threadsafe(_start(server), loop).result(timeout=30)
        provider.url = f"http://127.0.0.1:{port}"
        yield provider
    finally:
        try:
            if runner is not None:
                asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            if not thread.is_alive():
                loop.close()
