"""The call widget: one ``Bridge`` per visitor, wired to streamlit-webrtc's audio sink and to
the bridge's output track, started and stopped by the Start/Stop button, hung up when the
visitor leaves."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from streamlit_webrtc import WebRtcMode, create_audio_sink_track, webrtc_streamer
from streamlit_webrtc.eventloop import get_global_event_loop

from components import hosting, patches, state
from components.state import CallRequest
from voicelab.call import Bridge, Target
from voicelab.media.ice_route import ice_route, measured_route
from voicelab.protocol.session import SessionConfig

#: streamlit-webrtc fetches TURN credentials when one of these is set (hosted demos).
_TURN_ENV = ("CLOUDFLARE_TURN_KEY_ID", "TWILIO_ACCOUNT_SID", "HF_TOKEN")


def bridge() -> Bridge:
    """This visitor's bridge, created once per Streamlit session and hung up when the
    session ends (tab closed and its TTL passed, or the server stopping)."""
    current = state.bridge()
    if current is None:
        current = Bridge()
        state.keep_bridge(current, patches.SessionEndObserver(lambda: current.stop(5.0)))
    return current


def rtc_configuration() -> dict[str, Any] | None:
    """The browser's ICE servers: the host's own TURN (``[turn]`` in the secrets), or a
    vendor's when its credentials are in the environment; otherwise none at all, so nothing
    is looked up on networks this server cannot reach."""
    settings = hosting.turn()
    if settings is not None:
        config: dict[str, Any] = {"iceServers": hosting.browser_ice_servers(settings)}
        if settings.relay_only:
            config["iceTransportPolicy"] = "relay"
        return config
    if any(os.environ.get(name) for name in _TURN_ENV):
        return None  # streamlit-webrtc picks Cloudflare, Twilio or Hugging Face
    return {"iceServers": []}


def connection_check(current: Bridge) -> list[str]:
    """Which way each leg's media goes now, one line each (the diagnostics panel)."""
    lines = []
    context = state.streamer_context()
    worker = context._get_worker() if context is not None else None
    pc = getattr(worker, "pc", None)
    if pc is None:
        lines.append("Browser leg: not connected.")
    else:
        # The browser legs live on Streamlit's own loop: measured there, never blocked.
        measuring = asyncio.run_coroutine_threadsafe(measured_route(pc), get_global_event_loop())
        try:
            lines.append(measuring.result(2.0).words("Browser leg"))
        except Exception:
            measuring.cancel()
            lines.append(ice_route(pc).words("Browser leg"))
    upstream = current.upstream_route()
    lines.append(
        upstream.words("Upstream leg") if upstream is not None else "Upstream leg: no call."
    )
    return lines


def set_request(target: Target | str, config: SessionConfig | None) -> None:
    """What the next Start connects to; the callback below runs before the script does, so
    the sidebar's values from the last run are handed over through session state."""
    state.set_call_request(CallRequest(target, config))


def _start_requested(current: Bridge, start: Callable[[Target, SessionConfig], None]) -> None:
    """``start(target, config)`` with the last run's request, or the reason there is none."""
    request = state.call_request()
    if isinstance(request.target, Target) and request.config is not None:
        start(request.target, request.config)
    else:
        target = request.target
        current.refuse(target if isinstance(target, str) else "Fix the settings first.")


def _on_change() -> None:
    context = state.streamer_context()
    current = bridge()
    if context is None or not context.state.playing:
        current.stop()
        hosting.stopped()
        if context is not None and context.state.signalling and hosting.turn_expired():
            current.refuse(hosting.TURN_EXPIRED)
        return
    if not current.active:
        carried = current.carried_turns() if state.continue_conversation() else ()

        def begin(target: Target, config: SessionConfig) -> None:
            hosting.start(
                current,
                hosting.policy(),
                lambda limits: current.start(target, config, carried, limits),
            )

        _start_requested(current, begin)


def streamer() -> Any:
    """The Start/Stop widget. Must stay outside any fragment."""
    current = bridge()
    sink = create_audio_sink_track(
        current.on_browser_frame, key=state.STREAMER_MIC, on_ended=current.on_browser_ended
    )
    patches.disarm_orphan_check(state.streamer_context())
    ctx = webrtc_streamer(
        key=state.STREAMER,
        mode=WebRtcMode.SENDRECV,
        frontend_rtc_configuration=rtc_configuration(),
        # The server side offers its own addresses; a relay, if any, is the browser's.
        server_rtc_configuration={"iceServers": []},
        media_stream_constraints={
            "audio": {
                "echoCancellation": state.echo_cancellation(),
                "noiseSuppression": True,
                "autoGainControl": True,
            },
            "video": False,
        },
        sink_audio_track=sink,
        # The model's voice: frames forwarded as they arrive (voicelab/media/relay_track.py
        # says why not PcmAudioSource's fixed tick).
        source_audio_track=current.output_track(),
        on_change=_on_change,
    )
    if not ctx.state.playing and current.active:
        current.stop()  # Stop pressed but the callback missed it (e.g. a rerun race)
        hosting.stopped()
    return ctx


def reconnect() -> None:
    """The Reconnect button: a new call with the sidebar's settings, same conversation. The
    page reruns right after, so what happened is kept for it (``state.take_call_notice``)."""
    current = bridge()

    def carry(target: Target, config: SessionConfig) -> None:
        carried = current.reconnect(target, config)
        state.set_call_notice(f"Reconnected with the new settings; {carried} turns carried over.")

    _start_requested(current, carry)
