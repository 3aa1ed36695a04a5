"""Where a call goes and with which key: OpenAI (key from the sidebar, ``st.secrets`` or the
environment; ``OPENAI_BASE_URL`` to point elsewhere) or the offline local server, started once
per process inside the app so a fresh machine runs the demo with no setup."""

from __future__ import annotations

import atexit
import os
import secrets
from dataclasses import dataclass

import streamlit as st

from voicelab.bridge import Target
from voicelab.local import LocalServerThread, ServerOptions
from voicelab.session_config import Backend

OPENAI_URL = "https://api.openai.com/v1"
KEY_FIELD = "voicelab.typed_key"


@st.cache_resource(show_spinner="Starting the local Realtime server…")
def local_server() -> LocalServerThread:
    """One in-process server for every visitor; it binds 127.0.0.1 and needs a token that
    only this process knows, so nothing else on the machine can use it."""
    server = LocalServerThread(ServerOptions(api_key=secrets.token_urlsafe(24)))
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
    key: str | None


def openai_key() -> KeySource:
    typed = st.session_state.get(KEY_FIELD) or ""
    if typed.strip():
        return KeySource("typed in this session", typed.strip())
    if secret := _secret("OPENAI_API_KEY"):
        return KeySource("from .streamlit/secrets.toml", secret)
    if env := os.environ.get("OPENAI_API_KEY"):
        return KeySource("from the OPENAI_API_KEY environment variable", env)
    return KeySource("not set", None)


def openai_url() -> str:
    return os.environ.get("OPENAI_BASE_URL") or _secret("OPENAI_BASE_URL") or OPENAI_URL


def target(backend: Backend) -> Target | str:
    """The call's target, or the sentence that says why there is none."""
    if backend == "local":
        server = local_server()
        return Target(server.base_url, server.server.options.api_key or "", "local")
    key = openai_key().key
    if not key:
        return (
            "No OpenAI API key: type one in the sidebar, put OPENAI_API_KEY in "
            ".streamlit/secrets.toml or the environment, or choose the Local backend."
        )
    return Target(openai_url(), key, "openai")
