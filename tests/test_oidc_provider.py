"""The loopback OpenID Connect provider against the client Streamlit's ``st.login`` uses:
Authlib's httpx OAuth2 client (what its Starlette integration drives) for the authorization URL
and the token exchange, and Authlib's own ID token checks, with no browser and no mocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tests.oidc_provider import Provider, oidc_provider, s256, subject_for

CLIENT_ID = "voicelab-tests"
CLIENT_SECRET = "a-secret-only-the-tests-know"
# Never contacted: the tests read the code and state from the redirect's Location.
REDIRECT_URI = "http://127.0.0.1:9/oauth2callback"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with oidc_provider(CLIENT_ID, CLIENT_SECRET) as running:
        yield running


@dataclass
class Authorization:
    """What the app holds after the browser comes back: the code, and what it sent to get it."""

    code: str
    state: str
    nonce: str
    code_verifier: str


def http() -> httpx.AsyncClient:
    """A plain client that ignores proxy settings, so every request stays on loopback."""
    return httpx.AsyncClient(trust_env=False, timeout=5)


def oauth_client(**kwargs: Any) -> AsyncOAuth2Client:
    """Authlib's client configured as Streamlit configures it for a provider with S256."""
    options: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "code_challenge_method": "S256",
        "trust_env": False,
        "timeout": 5,
        **kwargs,
    }
    return AsyncOAuth2Client(**options)


async def metadata(provider: Provider) -> dict[str, Any]:
    async with http() as client:
        answer = await client.get(provider.metadata_url)
    answer.raise_for_status()
    return answer.json()


async def authorize(provider: Provider, email: str) -> Authorization:
    """The browser's part: open the authorization URL, type the email, press Sign in."""
    endpoints = await metadata(provider)
    nonce, code_verifier = generate_token(20), generate_token(48)
    async with oauth_client() as client:
        url, state = client.create_authorization_url(
            endpoints["authorization_endpoint"],
            nonce=nonce,
            code_verifier=code_verifier,
            prompt="select_account",
        )
    async with http() as client:
        page = await client.get(url)
        assert page.status_code == 200, page.text
        assert "<title>Test identity provider</title>" in page.text
        assert 'aria-label="Email"' in page.text and ">Sign in</button>" in page.text
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        request_id = re.search(r'name="request" value="([^"]+)"', page.text)
        assert action and request_id
        answer = await client.post(
            urljoin(str(page.url), action.group(1)),
            data={"request": request_id.group(1), "email": email},
            follow_redirects=False,
        )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = dict(parse_qsl(location.query))
    assert query["state"] == state
    return Authorization(query["code"], state, nonce, code_verifier)


async def exchange(
    provider: Provider, authorization: Authorization, **client_options: Any
) -> dict[str, Any]:
    """The app's part after the callback: swap the code for tokens, as Authlib does."""
    endpoints = await metadata(provider)
    async with oauth_client(**client_options) as client:
        return dict(
            await client.fetch_token(
                endpoints["token_endpoint"],
                code=authorization.code,
                state=authorization.state,
                code_verifier=authorization.code_verifier,
            )
        )


async def verified_claims(provider: Provider, token: dict[str, Any], nonce: str) -> CodeIDToken:
    """The ID token checked the way ``AsyncOpenIDMixin.parse_id_token`` checks it."""
    endpoints = await metadata(provider)
    async with http() as client:
        jwks = (await client.get(endpoints["jwks_uri"])).json()
    algorithms = endpoints["id_token_signing_alg_values_supported"]
    decoded = jwt.decode(
        token["id_token"],
        key=KeySet.import_key_set(jwks),
        registry=JWSRegistry(algorithms=algorithms, strict_check_header=False),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"values": [endpoints["issuer"]]}},
        {"nonce": nonce, "client_id": CLIENT_ID, "access_token": token["access_token"]},
    )
    claims.validate(leeway=120)
    return claims


async def test_sign_in_flow_passes_authlibs_checks(provider: Provider) -> None:
    endpoints = await metadata(provider)
    assert endpoints["issuer"] == provider.issuer == provider.url
    assert provider.url.startswith("http://127.0.0.1:")
    assert endpoints["code_challenge_methods_supported"] == ["S256"]

    signed_in: list[CodeIDToken] = []
    for email, auth_method in [
        ("ada@example.org", "client_secret_basic"),
        ("ada@example.org", "client_secret_post"),
        ("grace@example.org", "client_secret_basic"),
    ]:
        authorization = await authorize(provider, email)
        token = await exchange(provider, authorization, token_endpoint_auth_method=auth_method)
        assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
        claims = await verified_claims(provider, token, authorization.nonce)
        assert claims.header["kid"] and claims.header["alg"] == "RS256"
        assert claims["aud"] == CLIENT_ID and claims["exp"] == claims["iat"] + 3600
        assert claims["email"] == email and claims["email_verified"] is True
        assert claims["name"] == email.split("@")[0]
        signed_in.append(claims)

    ada, ada_again, grace = signed_in
    assert ada["sub"] == ada_again["sub"] == subject_for("ada@example.org")
    assert grace["sub"] != ada["sub"]
    assert provider.sign_ins == ["ada@example.org", "ada@example.org", "grace@example.org"]
    assert [
        (entry["grant_type"], entry["client_id"], entry["auth_method"], entry["pkce_verified"])
        for entry in provider.token_requests
    ] == [
        ("authorization_code", CLIENT_ID, "client_secret_basic", True),
        ("authorization_code", CLIENT_ID, "client_secret_post", True),
        ("authorization_code", CLIENT_ID, "client_secret_basic", True),
    ]
    assert all(entry["error"] is None for entry in provider.token_requests)

    # The nonce check bites: a token answering another request's nonce is refused.
    authorization = await authorize(provider, "ada@example.org")
    token = await exchange(provider, authorization)
    with pytest.raises(InvalidClaimError):
        await verified_claims(provider, token, "another-nonce")


async def test_token_endpoint_refuses_wrong_client_reused_code_and_wrong_verifier(
    provider: Provider,
) -> None:
    token_endpoint = f"{provider.url}/token"

    authorization = await authorize(provider, "ada@example.org")
    async with http() as client:
        answer = await client.post(
            token_endpoint,
            auth=(CLIENT_ID, "not-the-secret"),
            data={
                "grant_type": "authorization_code",
                "code": authorization.code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": authorization.code_verifier,
            },
        )
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_client"}
    with pytest.raises(OAuthError) as refused:
        await exchange(provider, authorization, client_secret="not-the-secret")
    assert refused.value.error == "invalid_client"

    # A refused client did not spend the code; its first right use works, the second does not.
    await exchange(provider, authorization)
    with pytest.raises(OAuthError) as refused:
        await exchange(provider, authorization)
    assert refused.value.error == "invalid_grant"

    authorization = await authorize(provider, "ada@example.org")
    wrong_verifier = generate_token(48)
    assert s256(wrong_verifier) != s256(authorization.code_verifier)
    authorization.code_verifier = wrong_verifier
    with pytest.raises(OAuthError) as refused:
        await exchange(provider, authorization)
    assert refused.value.error == "invalid_grant"

    assert [entry["error"] for entry in provider.token_requests] == [
        "invalid_client",
        "invalid_client",
        None,
        "invalid_grant",
        "invalid_grant",
    ]
    assert provider.token_requests[-1]["code_verifier_sent"] is True
    assert provider.token_requests[-1]["pkce_verified"] is False

    async with http() as client:
        answer = await client.get(f"{provider.url}/authorize", params={"response_type": "code"})
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/plain")


async def test_userinfo_needs_the_access_token_and_logout_returns_to_the_app(
    provider: Provider,
) -> None:
    authorization = await authorize(provider, "grace@example.org")
    token = await exchange(provider, authorization)
    endpoints = await metadata(provider)

    async with oauth_client(token=token) as client:
        answer = await client.get(endpoints["userinfo_endpoint"])
    assert answer.status_code == 200
    assert answer.json() == {
        "sub": subject_for("grace@example.org"),
        "email": "grace@example.org",
        "email_verified": True,
        "name": "grace",
    }

    async with http() as client:
        assert (await client.get(endpoints["userinfo_endpoint"])).status_code == 401
        forged = {"Authorization": "Bearer not-a-token"}
        answer = await client.get(endpoints["userinfo_endpoint"], headers=forged)
        assert answer.status_code == 401

        back = "http://127.0.0.1:9/oauth2callback"
        answer = await client.get(
            endpoints["end_session_endpoint"],
            params={"client_id": CLIENT_ID, "post_logout_redirect_uri": back},
        )
        assert answer.status_code == 302 and answer.headers["Location"] == back
        answer = await client.get(endpoints["end_session_endpoint"])
        assert answer.status_code == 200 and "Signed out" in answer.text
    assert provider.logouts[0] == {"client_id": CLIENT_ID, "post_logout_redirect_uri": back}
