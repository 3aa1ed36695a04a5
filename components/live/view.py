"""The live view: what moves during a call, drawn by the browser from the call's feed
(``route.py``) rather than by Streamlit reruns on a timer. ``state`` and ``meters``
draw themselves; ``watch`` draws nothing and reruns the fragment it is in when the part of
the feed that fragment shows has changed, so Streamlit redraws only what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit import config

from components import patches
from components import state as app_state
from components.live import route
from voicelab.call import Bridge, problems

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "voicelab_live",
    js=(_HERE / "view.js").read_text(),
    css=(_HERE / "view.css").read_text(),
    isolate_styles=False,  # its text is the page's: tests and readers see it as such
)


def _nothing() -> None:
    """The callback of a trigger a view does not send."""


def _mount(
    bridge: Bridge,
    key: str,
    on_browser_error: Callable[[], None] = _nothing,
    on_mic_lost: Callable[[], None] = _nothing,
    **data: Any,
) -> Any:
    url = route.url(config.get_option("server.baseUrlPath"), bridge)
    return _COMPONENT(
        key=key,
        data={"url": url, **data},
        on_changed_change=_nothing,
        on_browser_error_change=on_browser_error,
        on_mic_lost_change=on_mic_lost,
    )


def state(bridge: Bridge) -> None:
    """The call's state in plain words, its technical line one click away, its problems;
    and what the browser could not do (the microphone blocked, missing, in use, or gone
    mid-call), said in the same place."""

    def browser_error() -> None:
        raw = app_state.trigger(_STATE_KEY, "browser_error")
        if raw:
            bridge.refuse(problems.browser_media(str(raw)))

    def mic_lost() -> None:
        # The view presses the widget's Stop once the feed shows this; it may be sent twice.
        if app_state.trigger(_STATE_KEY, "mic_lost"):
            bridge.stop()
            bridge.refuse(problems.MICROPHONE_LOST)

    _mount(
        bridge,
        _STATE_KEY,
        on_browser_error=browser_error,
        on_mic_lost=mic_lost,
        view="state",
        frame=patches.WEBRTC_FRAME,
    )


_STATE_KEY = "live-state"


def meters(bridge: Bridge) -> None:
    """The two level meters and the VAD timeline of the last 30 s."""
    _mount(bridge, "live-meters", view="meters")


def turns(bridge: Bridge, drawn: int) -> None:
    """The turns after the first ``drawn`` (which the page has drawn), as they stream,
    drawn like the ones above them."""
    _mount(bridge, "live-turns", view="turns", drawn=drawn)


def watch(
    bridge: Bridge,
    part: str,
    seen: int,
    every_s: float = 1.0,
    batch: int = 1,
    name: str | None = None,
) -> None:
    """Call inside a fragment: reruns it when the feed's ``versions[part]`` is no longer
    ``seen``, at most once per ``every_s``. With ``batch``, ``part`` is a count of things the
    live view draws meanwhile, and during a call the rerun waits until it has grown by
    ``batch``: every rerun re-renders the page, so fewer, larger ones cost it less.
    ``name`` tells apart two fragments that watch the same part."""
    _mount(
        bridge,
        f"live-watch-{name or part}",
        view="watch",
        name=name or part,
        part=part,
        seen=seen,
        every_ms=int(every_s * 1000),
        batch=batch,
    )
