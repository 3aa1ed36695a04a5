"""Hosted mode, the Streamlit side: the ``[hosted]`` section of ``.streamlit/secrets.toml``
read into a policy, the gate drawn before anything else (sign-in through ``st.login`` when
``[auth]`` configures a provider, then the passcode), the visitor named (who signed in, or
their address as the server sees it), every Start admitted or refused against the ledger,
and the browser leg's TURN servers from ``[turn]``.
The logic lives in ``voicelab/hosting``; this module only reads Streamlit's state for it."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from components import history, state
from components.plain_text import plain
from voicelab.call import Bridge
from voicelab.call.limits import CallLimits
from voicelab.hosting.keeper import LedgerKeeper
from voicelab.hosting.ledger import Ledger
from voicelab.hosting.passcode import PasscodeGate
from voicelab.hosting.policy import HostedPolicy, PolicyError, policy_from
from voicelab.hosting.sign_in import (
    Identity,
    button_label,
    identity_from,
    refusal,
    sign_in_providers,
)
from voicelab.hosting.turn import TurnSettings, ice_servers, turn_from

log = logging.getLogger(__name__)

NO_LEDGER = (
    "This demo keeps no record of its calls right now, so its limits cannot be checked and "
    "no call can start; the host can see why in the app's log."
)


def _section(name: str) -> dict[str, Any] | None:
    """A section of ``.streamlit/secrets.toml`` as a dict; None when it is not there."""
    try:
        section = st.secrets.get(name)
    except Exception:  # no secrets.toml at all is normal
        return None
    if section is None:
        return None
    if not hasattr(section, "items"):
        raise PolicyError(f"[{name}] must be a section of settings, not a single value.")
    return dict(section.items())


def policy() -> HostedPolicy | None:
    """The host's policy; None when the app is not hosted (no ``[hosted]`` section).
    ``PolicyError`` for a section that cannot be used."""
    section = _section("hosted")
    return None if section is None else policy_from(section)


def providers(hosted: HostedPolicy) -> tuple[str, ...]:
    """The identity providers the gate offers (none: no sign-in); ``PolicyError`` for an
    ``[auth]`` section that ``st.login`` could not use."""
    return sign_in_providers(hosted.allowed_users, _section("auth"))


def identity() -> Identity | None:
    """Who signed in to this session, if anyone did."""
    # ``st.user`` has no ``is_logged_in`` at all when no ``[auth]`` is configured.
    if not st.user.get("is_logged_in"):
        return None
    return identity_from(st.user.to_dict())


def turn() -> TurnSettings | None:
    """The host's TURN servers for the browser leg (``[turn]``), if any; ``PolicyError``
    for settings that cannot be used."""
    section = _section("turn")
    return None if section is None else turn_from(section)


def browser_ice_servers(settings: TurnSettings) -> list[dict[str, Any]]:
    """This visitor's TURN credentials: minted once, and again when half their time has
    gone, so a page that reruns never holds an expired one (and its args stay the same
    between reruns, so the widget is not redrawn)."""
    now = time.time()
    held = state.turn_servers()
    if held is None or held[1] - now < settings.ttl_s / 2:
        tag = state.turn_tag()
        held = (ice_servers(settings, tag, now), now + settings.ttl_s)
        state.set_turn_servers(held)
    return held[0]


TURN_EXPIRED = (
    "This page's pass for the relay server has expired (it was open a long time without a "
    "change), so the call cannot connect; press Stop, then Start again."
)


def turn_expired() -> bool:
    """At Start: whether the TURN credential this page was given has expired (a page left
    without a rerun for longer than ``ttl_s``); the rerun that follows mints a fresh one."""
    held = state.turn_servers()
    return turn() is not None and held is not None and held[1] <= time.time()


@st.cache_resource(show_spinner=False)
def _gate(passcode: str) -> PasscodeGate:
    """One per process (and per passcode): wrong tries count across every session."""
    return PasscodeGate(passcode)


@dataclass(frozen=True)
class Books:
    ledger: Ledger
    keeper: LedgerKeeper


@st.cache_resource(show_spinner=False)
def books() -> Books | None:
    """The ledger beside the history, and the thread that keeps it; None without a store."""
    kept = history.history()
    if kept is None:
        return None
    try:
        ledger = Ledger(kept.store.engine)
    except Exception:
        log.exception("the hosting ledger could not be opened; no call can start")
        return None
    return Books(ledger, LedgerKeeper(ledger))


def visitor(hosted: HostedPolicy) -> str:
    """Who the limits are counted for: the signed-in identity when the demo asks visitors to
    sign in, else the address the request came from (the first X-Forwarded-For entry when
    the host trusts the proxy that sets it)."""
    if (signed_in := identity()) is not None:
        return signed_in.visitor
    if hosted.trust_forwarded_for:
        forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return st.context.ip_address or "localhost"  # Streamlit names no address for loopback


def _check_passcode(gate: PasscodeGate, hosted: HostedPolicy) -> None:
    verdict = gate.check(state.typed_passcode(), visitor(hosted), time.monotonic())
    if verdict.ok:
        state.admit()
    else:
        state.set_gate_message(verdict.message or "")


def gate() -> HostedPolicy | None:
    """Before anything else is drawn: the page stops here until the visitor is let in
    (signed in, when the host configured sign-in; then the passcode, when there is one).
    Returns the policy in force (None: not hosted)."""
    try:
        hosted = policy()
        turn()  # checked here, so a mistake in it closes the demo with its sentence too
        offered = providers(hosted) if hosted is not None else ()
    except PolicyError as exc:
        log.error("hosted mode is misconfigured: %s", exc)
        st.error(f"This demo is not set up correctly, so it is closed: {exc}")
        st.stop()
    if hosted is None:
        return None
    if offered:
        _sign_in(hosted, offered)
    if hosted.passcode is None or state.admitted():
        return hosted
    gate = _gate(hosted.passcode)
    st.title("Voice Lab")
    with st.form("voicelab-gate"):
        st.text_input("Passcode", type="password", key=state.PASSCODE_FIELD)
        st.form_submit_button("Enter", on_click=_check_passcode, args=(gate, hosted))
    if message := state.take_gate_message():
        st.error(message)
    st.stop()


def _sign_in(hosted: HostedPolicy, offered: tuple[str, ...]) -> None:
    """Returns only for a visitor signed in and on the host's list; draws who they are, and
    the way out, at the top of the sidebar."""
    signed_in = identity()
    if signed_in is None:
        st.title("Voice Lab")
        st.write("Sign in to use this demo.")
        for provider in offered:
            if st.button(button_label(provider), key=f"voicelab-sign-in-{provider}"):
                st.login(provider)
        st.stop()
    if (why := refusal(hosted.allowed_users, signed_in)) is not None:
        st.title("Voice Lab")
        st.error(plain(why))
        if st.button("Sign out"):
            st.logout()
        st.stop()
    st.sidebar.caption(f"Signed in as {plain(signed_in.shown)}")
    if st.sidebar.button("Sign out"):
        st.logout()


def calls_owner(hosted: HostedPolicy | None) -> str | None:
    """Whose the calls made now are, and whose stored calls this visitor may delete: the
    visitor's, on a hosted demo (None: not hosted, anyone's)."""
    return None if hosted is None else visitor(hosted)


def calls_shown() -> str | None:
    """Whose calls History and Events show this visitor (None: everyone's)."""
    hosted = policy()
    return calls_owner(hosted) if hosted is not None and hosted.history == "own" else None


def _not_let_in(hosted: HostedPolicy) -> str | None:
    """Why a call may not start in a session the gate has not let in (the gate draws no
    Start then; this holds whatever reaches a Start)."""
    if providers(hosted):
        signed_in = identity()
        if signed_in is None:
            return "Sign in first."
        if (why := refusal(hosted.allowed_users, signed_in)) is not None:
            return why
    if hosted.passcode is not None and not state.admitted():
        return "Enter the passcode first."
    return None


@dataclass(frozen=True)
class Admitted:
    """A hosted call let in: its limits, and its ledger row."""

    limits: CallLimits
    key: str
    books: Books
    at: float

    def watch(self, bridge: Bridge) -> None:
        """From now on the keeper writes the call's row from the bridge's progress; a call
        that did not start ends it at the next round."""
        self.books.keeper.watch(self.key, bridge.progress, self.at)


def admit_call(hosted: HostedPolicy) -> Admitted | str:
    """A call of this visitor's (from Start, or a replay) admitted against the ledger, its
    row opened; or the sentence why it may not start."""
    if (why := _not_let_in(hosted)) is not None:
        return why
    kept = books()
    if kept is None:
        return NO_LEDGER
    who, now = visitor(hosted), time.time()
    key = f"{int(now)}-{secrets.token_hex(6)}"
    try:
        verdict = kept.ledger.admit(hosted, who, now, key)
    except Exception:
        log.exception("the hosting ledger could not be read or written")
        return NO_LEDGER
    if isinstance(verdict, str):
        return verdict
    return Admitted(verdict, key, kept, now)


def start(
    bridge: Bridge,
    hosted: HostedPolicy | None,
    begin: Callable[[CallLimits], None],
) -> None:
    """A Start: ``begin(limits)`` when the visitor may call now, else the sentence why not
    (shown as the call's state). Not hosted: no limits."""
    if hosted is None:
        begin(CallLimits())
        return
    previous, kept = state.ledger_key(), books()
    if previous and kept is not None:
        kept.keeper.end(previous)  # the last call of this session has ended: Start is shown
    admitted = admit_call(hosted)
    if isinstance(admitted, str):
        bridge.refuse(admitted)
        return
    state.set_ledger_key(admitted.key)
    try:
        begin(admitted.limits)
    finally:
        admitted.watch(bridge)


def stopped() -> None:
    """After Stop: this visitor's call stops counting now, not at the keeper's next round
    (a visitor waiting for the demo to be free can start at once)."""
    kept = books() if state.ledger_key() else None
    if kept is not None and (key := state.ledger_key()):
        try:
            kept.keeper.end(key)
        except Exception:  # the keeper's next round ends it anyway
            log.exception("the hosting ledger could not be written at Stop")
