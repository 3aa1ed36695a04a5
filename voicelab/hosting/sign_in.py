"""Who a visitor is when a hosted demo asks them to sign in (Streamlit's ``st.login``, an
OpenID Connect provider the host configures in ``[auth]``): the providers offered, the
identity read from the provider's claims, and whether the host's allow-list lets it in.

Limits are counted per identity rather than per address once a visitor has signed in: an
identity cannot be changed by moving network, and people behind one NAT no longer share one
allowance. Pure logic; the Streamlit side is ``components/hosting.py``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicelab.hosting.policy import PolicyError

#: What Streamlit needs of every provider (``streamlit.auth_util.validate_auth_credentials``).
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
#: The ledger's visitor column holds 255 characters; longer identities are hashed.
MAX_VISITOR = 200


def providers(auth: Mapping[str, Any]) -> tuple[str, ...]:
    """The providers a ``[auth]`` section configures, in its order: ``"default"`` when the
    section holds a provider's settings itself, and each ``[auth.NAME]`` sub-section.
    ``PolicyError`` for a section ``st.login`` would refuse, so a mistake closes the demo
    with a sentence instead of failing at the visitor's click."""
    for key in ("redirect_uri", "cookie_secret"):
        if not isinstance(auth.get(key), str) or not auth[key]:
            raise PolicyError(f"[auth] needs {key} for sign-in (see docs/hosting.md).")
    if not auth["redirect_uri"].rstrip("/").endswith("/oauth2callback"):
        raise PolicyError("[auth] redirect_uri must be the app's URL ending in /oauth2callback.")
    found: list[str] = []
    if any(key in auth for key in PROVIDER_KEYS):
        found.append("default")
    found += [name for name, value in auth.items() if hasattr(value, "items")]
    if not found:
        raise PolicyError(
            "[auth] names no identity provider: add client_id, client_secret and "
            "server_metadata_url, in [auth] itself or in [auth.NAME]."
        )
    for name in found:
        section = auth if name == "default" else auth[name]
        missing = [key for key in PROVIDER_KEYS if not section.get(key)]
        if missing:
            where = "[auth]" if name == "default" else f"[auth.{name}]"
            raise PolicyError(f"{where} is missing {', '.join(missing)}.")
        if "_" in name:
            raise PolicyError(f"[auth.{name}]: Streamlit refuses a provider name with '_'.")
    return tuple(found)


def button_label(provider: str) -> str:
    return "Sign in" if provider == "default" else f"Sign in with {provider.capitalize()}"


@dataclass(frozen=True)
class Identity:
    """A signed-in visitor, from the provider's ID token."""

    issuer: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None

    @property
    def visitor(self) -> str:
        """The ledger's name for them: issuer and subject, the one pair OpenID Connect
        promises is unique and never reassigned (an email address can change hands)."""
        whole = f"{self.issuer} {self.subject}"
        if len(whole) <= MAX_VISITOR:
            return whole
        return "sha256 " + hashlib.sha256(whole.encode()).hexdigest()

    @property
    def shown(self) -> str:
        return self.email or self.name or self.subject


def identity_from(claims: Mapping[str, Any]) -> Identity | None:
    """The identity in ``st.user``'s claims; None when they name no subject."""
    subject, issuer = claims.get("sub"), claims.get("iss")
    if not isinstance(subject, str) or not subject:
        return None
    email = claims.get("email")
    name = claims.get("name")
    return Identity(
        issuer=issuer if isinstance(issuer, str) else "",
        subject=subject,
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        # Providers that do not say are trusted to have checked (Streamlit's default ones do).
        email_verified=claims.get("email_verified", True) is not False,
        name=name if isinstance(name, str) else None,
    )


def refusal(allowed_users: tuple[str, ...] | None, identity: Identity) -> str | None:
    """Why this identity may not use the demo, in one sentence; None when it may."""
    if allowed_users is None:
        return None
    email = identity.email if identity.email_verified else None
    if email is not None:
        domain = "@" + email.rsplit("@", 1)[-1]
        if email in allowed_users or domain in allowed_users:
            return None
    if identity.email is None:
        return (
            "Your sign-in did not share an email address, and this demo is open only to the "
            "people its host listed; sign out and use another account."
        )
    if not identity.email_verified:
        return (
            f"Your provider has not verified {identity.email}, and this demo is open only to "
            "verified addresses its host listed; sign out and use another account."
        )
    return (
        f"This demo is open only to the people its host listed, and {identity.email} is not "
        "one of them; sign out and use another account."
    )


def sign_in_providers(
    allowed_users: tuple[str, ...] | None, auth: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """The providers a hosted demo's gate offers: every one in ``[auth]`` (none: no
    sign-in). An allow-list without a way to sign in is a mistake, said in one sentence."""
    if auth is None:
        if allowed_users is not None:
            raise PolicyError(
                "[hosted] allowed_users needs sign-in: add an [auth] section (docs/hosting.md)."
            )
        return ()
    return providers(auth)
