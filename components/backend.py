"""Where a call goes and with which key: OpenAI (key from the sidebar, ``st.secrets`` or the
environment; ``OPENAI_BASE_URL`` to point elsewhere) or the offline local server, started once
per process inside the app so a fresh machine runs the demo with no setup."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
from dataclasses import dataclass, field

import streamlit as st

from components import hosting, state
from voicelab.call import Target
from voicelab.local import LocalServerThread, ServerOptions
from voicelab.protocol.backends import Backend

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
#: The in-process server's token, if set (else a random one only this process knows). Set
#: it to run "View as code"'s program against that server.
LOCAL_KEY_ENV = "VOICELAB_LOCAL_API_KEY"


@st.cache_resource(show_spinner="Starting the local Realtime server…")
def local_server() -> LocalServerThread:
    """One in-process server for every visitor; it binds 127.0.0.1 and needs a token, so
    nothing else on the machine can use it without being told the token."""
    token = os.environ.get(LOCAL_KEY_ENV) or secrets.token_urlsafe(24)
    server = LocalServerThread(ServerOptions(api_key=token))
    server.start()
    atexit.register(server.stop)
    return server


def _secret(name: str) -> str | None:
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets.toml at all is normal
        return None
    return str(value) if value else None


@dataclass(frozen=True)
class KeySource:
    """Where the OpenAI key came from, for the sidebar to name (never to show)."""

    label: str
    key: str | None = field(repr=False)


def visitor_keys_allowed() -> bool:
    """Whether a visitor may type a key of their own (always, unless hosted otherwise)."""
    hosted = hosting.policy()
    return hosted is None or hosted.visitor_key_allowed


def local_allowed() -> bool:
    hosted = hosting.policy()
    return hosted is None or hosted.allow_local


def openai_key() -> KeySource:
    hosted = hosting.policy()
    if (typed := state.typed_key()) and visitor_keys_allowed():
        return KeySource("typed in this session", typed)
    if hosted is not None:
        if not hosted.host_key_allowed:
            return KeySource("not set: this demo asks for your own", None)
        host = (_secret("OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY") or "").strip()
        return KeySource("this demo's", host) if host else KeySource("not set", None)
    if secret := (_secret("OPENAI_API_KEY") or "").strip():
        return KeySource("from .streamlit/secrets.toml", secret)
    if env := os.environ.get("OPENAI_API_KEY", "").strip():
        return KeySource("from the OPENAI_API_KEY environment variable", env)
    return KeySource("not set", None)


def openai_url() -> str:
    return os.environ.get("OPENAI_BASE_URL") or _secret("OPENAI_BASE_URL") or OPENAI_URL


def target(backend: Backend) -> Target | str:
    """The call's target, or the sentence that says why there is none."""
    if backend == "local":
        if not local_allowed():
            return "The offline backend is not offered on this demo; choose OpenAI."
        try:
            server = local_server()
        except Exception:
            log.exception("the local Realtime server did not start")
            return "The offline server could not start on this machine; see the app's log."
        return Target(server.base_url, server.server.options.api_key or "", "local")
    key = openai_key().key
    if not key and not visitor_keys_allowed():
        return "This demo has no OpenAI key to offer right now; try again later."
    if not key and hosting.policy() is not None:
        return "Type your OpenAI API key in the sidebar: this demo uses your own."
    if not key:
        return (
            "No OpenAI API key: type one in the sidebar, put OPENAI_API_KEY in "
            ".streamlit/secrets.toml or the environment, or choose the Local backend."
        )
    return Target(openai_url(), key, "openai")
