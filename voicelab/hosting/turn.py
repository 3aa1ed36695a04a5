"""TURN servers for the browser leg, from the host's ``[turn]`` settings: static credentials,
or credentials minted per visitor from a coturn shared secret (``use-auth-secret``, the
"TURN REST API" scheme): the username is the expiry time and a tag, the password an
HMAC-SHA1 of the username under the secret, so the secret itself never leaves the server
and each credential stops working at its expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicelab.hosting.policy import PolicyError

#: How long a minted credential works unless the host says otherwise.
DEFAULT_TTL_S = 3600


@dataclass(frozen=True)
class TurnSettings:
    urls: tuple[str, ...]
    username: str | None = None  # static credentials …
    credential: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)  # … or coturn's shared secret
    ttl_s: int = DEFAULT_TTL_S
    #: Offer the browser relayed candidates only (a test, or a host that wants every
    #: browser leg through its relay).
    relay_only: bool = False


def turn_from(section: Mapping[str, Any]) -> TurnSettings:
    """``PolicyError`` (one sentence naming the setting) for settings that cannot be used."""
    known = {"urls", "username", "credential", "secret", "ttl_s", "relay_only"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise PolicyError(f"[turn] has no setting {unknown[0]!r}; the settings are "
                          f"{', '.join(sorted(known))}.")  # fmt: skip
    urls = section.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not urls or not all(isinstance(u, str) and u.startswith(("turn:", "turns:")) for u in urls):
        raise PolicyError("[turn] urls must be one or more turn: or turns: addresses.")
    secret = section.get("secret")
    username, credential = section.get("username"), section.get("credential")
    if secret is not None and (username is not None or credential is not None):
        raise PolicyError("[turn] takes a secret or a username and credential, not both.")
    if secret is None and not (isinstance(username, str) and isinstance(credential, str)):
        raise PolicyError("[turn] needs a secret, or a username and a credential.")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise PolicyError("[turn] secret must be a non-empty string.")
    ttl = section.get("ttl_s", DEFAULT_TTL_S)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise PolicyError(f"[turn] ttl_s must be a whole number of seconds above 0, not {ttl!r}.")
    relay_only = section.get("relay_only", False)
    if not isinstance(relay_only, bool):
        raise PolicyError(f"[turn] relay_only must be true or false, not {relay_only!r}.")
    return TurnSettings(tuple(urls), username, credential, secret, ttl, relay_only)


def minted(secret: str, tag: str, expires_at: float) -> tuple[str, str]:
    """coturn's time-limited credential: (username, password)."""
    username = f"{math.floor(expires_at)}:{tag}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(turn: TurnSettings, tag: str, now: float) -> list[dict[str, Any]]:
    """The browser's ICE servers: the credential handed to this visitor (``tag`` names them
    in coturn's log; keep it free of personal data)."""
    if turn.secret is not None:
        username, credential = minted(turn.secret, tag, now + turn.ttl_s)
    else:
        username, credential = turn.username or "", turn.credential or ""
    return [{"urls": list(turn.urls), "username": username, "credential": credential}]
