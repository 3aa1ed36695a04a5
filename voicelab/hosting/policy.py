"""What a host allows visitors of a shared demo: the ``[hosted]`` section of
``.streamlit/secrets.toml``, read into one value. Its presence turns hosted mode on; every
limit is off unless set. A mistake in it is one sentence naming the setting, and the app
refuses every call until it is fixed: a typo must never open a demo wider than meant."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

KeyPolicy = Literal["host", "visitor", "both"]
KEY_POLICIES: tuple[KeyPolicy, ...] = ("host", "visitor", "both")
HistoryPolicy = Literal["own", "shared"]
HISTORY_POLICIES: tuple[HistoryPolicy, ...] = ("own", "shared")


class PolicyError(ValueError):
    """The ``[hosted]`` settings cannot be used; the message says which and why."""


@dataclass(frozen=True)
class HostedPolicy:
    #: What a visitor types to get in (None: no passcode).
    passcode: str | None = None
    #: Whose OpenAI key a call uses: the host's only, the visitor's own only, or the
    #: visitor's when given and the host's otherwise.
    keys: KeyPolicy = "host"
    #: Whether visitors may choose the offline backend (it runs on the host's CPU).
    allow_local: bool = True
    #: Call minutes per visitor per day (UTC), across reloads and replicas.
    minutes_per_day: float | None = None
    #: Calls one visitor may have open at once.
    calls_per_visitor: int | None = None
    #: Estimated spend (US dollars) after which one call is ended.
    spend_per_call_usd: float | None = None
    #: Estimated spend (US dollars) per visitor per day (UTC).
    spend_per_day_usd: float | None = None
    #: Calls open at once in the whole deployment (every replica sharing the store).
    calls_at_once: int | None = None
    #: Take the visitor's address from the proxy's X-Forwarded-For (only behind a proxy
    #: that sets it, or a visitor could claim any address).
    trust_forwarded_for: bool = False
    #: With sign-in (``[auth]``): the addresses and ``@domains`` let in (None: anyone who
    #: signs in).
    allowed_users: tuple[str, ...] | None = None
    #: What History and Events show a visitor: their own calls only, or everyone's (a
    #: team's shared notebook). Either way a visitor deletes only their own.
    history: HistoryPolicy = "own"

    @property
    def host_key_allowed(self) -> bool:
        return self.keys in ("host", "both")

    @property
    def visitor_key_allowed(self) -> bool:
        return self.keys in ("visitor", "both")


_NUMBERS = {"minutes_per_day", "spend_per_call_usd", "spend_per_day_usd"}
_COUNTS = {"calls_per_visitor", "calls_at_once"}
_FLAGS = {"allow_local", "trust_forwarded_for"}
_CHOICES: dict[str, tuple[str, ...]] = {"keys": KEY_POLICIES, "history": HISTORY_POLICIES}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(f"[hosted] {name} must be a number, not {value!r}.")
    if value < 0:
        raise PolicyError(f"[hosted] {name} must be 0 or more, not {value!r}.")
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"[hosted] {name} must be a whole number, 0 or more, not {value!r}.")
    return value


def allowed_users_from(value: Any) -> tuple[str, ...]:
    """``[hosted] allowed_users``: addresses (``ada@example.org``) and whole domains
    (``@example.org``), compared without case."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise PolicyError(
            '[hosted] allowed_users must be a list, e.g. ["ada@example.org", "@example.org"].'
        )
    entries: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or "@" not in entry or entry.strip().endswith("@"):
            raise PolicyError(
                f"[hosted] allowed_users: {entry!r} is neither an address (name@domain) "
                "nor a domain (@domain)."
            )
        entries.append(entry.strip().lower())
    return tuple(entries)


def policy_from(section: Mapping[str, Any]) -> HostedPolicy:
    """The policy in a ``[hosted]`` section; ``PolicyError`` for anything it cannot mean."""
    known = {f.name for f in fields(HostedPolicy)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise PolicyError(
            f"[hosted] has no setting {unknown[0]!r}; the settings are {', '.join(sorted(known))}."
        )
    values: dict[str, Any] = {}
    for name, value in section.items():
        if name in _NUMBERS:
            values[name] = _number(name, value)
        elif name in _COUNTS:
            values[name] = _count(name, value)
        elif name in _FLAGS:
            if not isinstance(value, bool):
                raise PolicyError(f"[hosted] {name} must be true or false, not {value!r}.")
            values[name] = value
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                raise PolicyError(
                    f"[hosted] {name} must be one of {', '.join(_CHOICES[name])}, not {value!r}."
                )
            values[name] = value
        elif name == "allowed_users":
            values[name] = allowed_users_from(value)
        elif name == "passcode":
            if not isinstance(value, str) or not value.strip():
                raise PolicyError("[hosted] passcode must be a non-empty string.")
            values[name] = value
    return HostedPolicy(**values)
