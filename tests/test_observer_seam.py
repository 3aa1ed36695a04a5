"""The observer seam on a real call: an observer registered with the bridge sees every event
that crosses the transport, both ways, in the order it crossed. What crossed is recorded by a
tap between the call and its real WebRTC transport, so the reference is not the event
stream itself."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import av

from tests.browser_leg import until
from tests.test_bridge import assistants, call, session
from voicelab.call import CONNECTED, Bridge
from voicelab.observers.live_settings import APPLIED
from voicelab.upstream.transport import Listener, Target, Transport
from voicelab.upstream.webrtc import WebRtcConnector


class Recorder:
    """A throwaway observer: all it does is remember."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Mapping[str, Any]]] = []

    def observe(self, direction: str, event: Mapping[str, Any]) -> None:
        self.seen.append((direction, event))


class Tap:
    """A connector whose transports are WebRTC ones with a record of what crosses them."""

    def __init__(self) -> None:
        self.crossed: list[tuple[str, Mapping[str, Any]]] = []

    def __call__(self, target: Target, session: dict, mic: Any, listener: Listener) -> Transport:
        tap = self

        class Hearing:
            def on_event(self, event: dict[str, Any]) -> None:
                tap.crossed.append(("received", event))
                listener.on_event(event)

            def on_audio(self, frame: av.AudioFrame) -> None:
                listener.on_audio(frame)

            def on_state(self, state: str) -> None:
                listener.on_state(state)

        inner = WebRtcConnector()(target, session, mic, Hearing())

        class Tapped:
            async def connect(self) -> str:
                return await inner.connect()

            def send(self, event: Any) -> None:
                inner.send(event)
                tap.crossed.append(("sent", event))

            async def close(self) -> None:
                await inner.close()

        return Tapped()


async def test_a_registered_observer_sees_every_event_both_ways(server):
    recorders: list[Recorder] = []

    def observers() -> list[Recorder]:
        recorders.append(Recorder())
        return recorders[-1:]

    tap = Tap()
    bridge = Bridge(settings_debounce_s=0.05, connector=tap, observers=observers)
    async with call(server.base_url, bridge) as (_, _leg):
        await until(bridge, lambda s: s.status == CONNECTED)
        await asyncio.to_thread(bridge.send_text, "hello there")
        await until(bridge, lambda s: any(t.final for t in assistants(s)), what="the reply")
        bridge.apply_settings(session(threshold=0.7))
        await until(bridge, lambda s: s.live.fields.get("threshold") == APPLIED)
        await until(bridge, lambda s: bridge.events("response.done"), what="response.done")
        await asyncio.sleep(0.3)  # let the tail of the reply's events arrive
        (recorder,) = recorders  # one observer per call
        seen, crossed = list(recorder.seen), list(tap.crossed)

    assert len(crossed) > 20
    assert seen == crossed  # every event, both ways, in the order it crossed
    sent = [e["type"] for d, e in seen if d == "sent"]
    received = {e["type"] for d, e in seen if d == "received"}
    assert sent == ["conversation.item.create", "response.create", "session.update"]
    assert {"session.created", "response.done", "session.updated"} <= received
    assert all(isinstance(e.get("event_id"), str) for _, e in seen)  # real wire events


async def test_each_call_gets_its_own_observers(server):
    made: list[Recorder] = []
    bridge = Bridge(observers=lambda: made.append(Recorder()) or made[-1:])
    for _ in range(2):
        async with call(server.base_url, bridge) as (_, _leg):
            await until(bridge, lambda s: s.status == CONNECTED)
    assert len(made) == 2
    assert all(r.seen and r.seen[0][1]["type"] == "session.created" for r in made)
    assert made[0].seen[0][1]["session"]["id"] != made[1].seen[0][1]["session"]["id"]
