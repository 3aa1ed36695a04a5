"""The history store of this app process, configured the Streamlit way: a SQL connection
named ``history`` in ``.streamlit/secrets.toml`` (``[connections.history] url = "…"``), or a
SQLite file in the data directory (``VOICELAB_DATA_DIR``, default ``./data``)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from voicelab.history.store import HistoryStore
from voicelab.history.writer import HistoryWriter

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "VOICELAB_DATA_DIR"
DEFAULT_KEEP_CALLS = 200


@dataclass(frozen=True)
class History:
    store: HistoryStore
    writer: HistoryWriter


def _connection_settings() -> dict[str, Any]:
    try:
        return dict(st.secrets.get("connections", {}).get("history", {}))
    except Exception:  # no secrets.toml at all is normal
        return {}


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or ROOT / "data")


@st.cache_resource(show_spinner=False)
def history() -> History | None:
    """One store and one writer thread per process; None (and the app goes on without
    keeping calls) if the store cannot be opened."""
    settings = _connection_settings()
    folder = Path(settings.get("audio_dir") or data_dir() / "audio")
    url = settings.get("url") or f"sqlite:///{data_dir() / 'history.db'}"
    try:
        store = HistoryStore(
            url, folder, keep_calls=int(settings.get("keep_calls", DEFAULT_KEEP_CALLS))
        )
        store.prune()
    except Exception:
        log.exception("the history store could not be opened; calls will not be kept")
        return None
    return History(store, HistoryWriter(store))
