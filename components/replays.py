"""Replays run off the page's script thread, one at a time per app process (each one is a
real-time call), and the page polls for the result. On a hosted demo a replay is admitted
and counted like any call (it is one): the visitor's limits hold for it."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass

import streamlit as st

from components import history, hosting, state
from voicelab.call.replay import Replayed, ReplayError, replay
from voicelab.history.audio_file import microphone
from voicelab.protocol.session import SessionConfig
from voicelab.upstream.transport import Target


@dataclass(frozen=True)
class Job:
    source_id: str
    future: concurrent.futures.Future[Replayed]


@st.cache_resource(show_spinner=False)
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="voicelab-replay"
    )


def start(source_id: str, wav: bytes, target: Target, config: SessionConfig) -> str | None:
    """Queue a replay of ``source_id``; the sentence saying why not, if it cannot be."""
    kept = history.history()
    if kept is None:
        return "History is not available, so there is nothing to replay into."
    current = state.replay()
    if current is not None and not current.future.done():
        return "A replay is already running; wait for it to finish."
    samples, rate = microphone(wav)
    hosted = hosting.policy()
    admitted = None if hosted is None else hosting.admit_call(hosted)
    if isinstance(admitted, str):
        return admitted
    hosted_call = {} if admitted is None else {"limits": admitted.limits, "watch": admitted.watch}
    future = _pool().submit(
        replay,
        samples,
        rate,
        target,
        config,
        kept.writer,
        owner=hosting.calls_owner(hosted),
        **hosted_call,
    )
    state.set_replay(Job(source_id, future))
    return None


def outcome(job: Job) -> tuple[Replayed | None, str | None]:
    """(result, None), or (None, the sentence for what went wrong)."""
    try:
        return job.future.result(0), None
    except ReplayError as exc:
        return None, str(exc)
    except Exception:
        return None, "The replay failed unexpectedly; try again."
