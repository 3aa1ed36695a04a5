"""The transport seam: the bridge runs a whole call through a second, minimal transport that
lives in memory (pure logic, no network), knowing nothing of WebRTC. What it is sent, and
what it answers, go through exactly the interface the WebRTC transport implements."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from tests.browser_leg import until
from voicelab.call import CONNECTED, IDLE, Bridge, Target
from voicelab.media.frames import WEBRTC_FRAME_SAMPLES, WEBRTC_RATE
from voicelab.media.levels import SILENT_PEAK
from voicelab.observers.live_settings import APPLIED
from voicelab.observers.transcript import Turn
from voicelab.protocol.session import SessionConfig
from voicelab.upstream.transport import ChannelClosed, Listener

REPLY_FRAMES = 10


def loud_frame() -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.full((1, WEBRTC_FRAME_SAMPLES * 2), 3000, dtype=np.int16), format="s16", layout="stereo"
    )
    frame.sample_rate = WEBRTC_RATE
    return frame


class MemoryTransport:
    """A Realtime server in a few lines: echoes items, answers ``response.create`` with an
    assistant turn and ten frames of voice, confirms every ``session.update``. The answer
    stays in progress until ``finish()`` so an Interrupt has something to cut."""

    made: ClassVar[list[MemoryTransport]] = []

    def __init__(
        self, target: Target, session: dict, mic: MediaStreamTrack, listener: Listener
    ) -> None:
        self.session, self.mic, self.listener = session, mic, listener
        self.sent: list[dict[str, Any]] = []
        self.mic_sound = 0  # microphone frames with sound that reached the transport
        self.closed = False
        self._reader: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        MemoryTransport.made.append(self)

    async def connect(self) -> str:
        self.loop = asyncio.get_running_loop()  # the call's: the listener is called there
        self.listener.on_state("connected")
        self._reader = asyncio.ensure_future(self._read_mic())
        self.hear({"type": "session.created", "session": self.session})
        return "mem_call"

    def hear(self, event: dict[str, Any]) -> None:
        """Deliver a server event as the network would: later, on the call's loop."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.listener.on_event, event)

    async def _read_mic(self) -> None:
        while True:
            try:
                frame = await self.mic.recv()
            except MediaStreamError:
                return
            if int(np.abs(frame.to_ndarray()).max()) > SILENT_PEAK:
                self.mic_sound += 1

    def send(self, event: Any) -> None:
        if self.closed:
            raise ChannelClosed("closed")
        self.sent.append(event)
        hear = self.hear
        kind = event["type"]
        if kind == "conversation.item.create":
            hear({"type": "conversation.item.added", "item": {**event["item"], "id": "item_u"}})
        elif kind == "session.update":
            hear({"type": "session.updated", "session": event["session"]})
        elif kind == "response.create":
            item = {"id": "item_a", "type": "message", "role": "assistant", "content": []}
            where = {"response_id": "resp_1", "item_id": "item_a", "content_index": 0}
            hear({"type": "response.created", "response": {"id": "resp_1"}})
            hear({"type": "response.output_item.added", "response_id": "resp_1", "item": item})
            hear({"type": "response.content_part.added", **where, "part": {"type": "audio"}})
            hear({"type": "output_audio_buffer.started", "response_id": "resp_1"})
            for _ in range(REPLY_FRAMES):
                self.loop.call_soon(self.listener.on_audio, loud_frame())
            hear({"type": "response.output_audio_transcript.delta", **where, "delta": "hi"})

    def finish(self) -> None:
        where = {"response_id": "resp_1", "item_id": "item_a", "content_index": 0}
        hear = self.hear  # called from the test's thread: delivered on the call's loop
        hear({"type": "response.output_audio_transcript.done", **where, "transcript": "hi"})
        hear({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})

    async def close(self) -> None:
        self.closed = True
        if self._reader is not None:
            self._reader.cancel()
        self.mic.stop()


async def test_the_bridge_runs_a_call_through_any_transport():
    MemoryTransport.made.clear()
    bridge = Bridge(settings_debounce_s=0.05, connector=MemoryTransport)
    bridge.start(Target("memory://", "no-key", "local"), SessionConfig())
    snap = await until(bridge, lambda s: s.status == CONNECTED)
    (transport,) = MemoryTransport.made
    assert snap.call_id == "mem_call" and snap.ice_state == "connected"

    # audio in: browser frames reach the transport through the bridge's uplink track
    for _ in range(5):
        bridge.on_browser_frame(loud_frame())
    await until(bridge, lambda s: transport.mic_sound == 5, what="mic frames at the transport")

    # intents out, server events in: a typed message and its answer, voice included
    await asyncio.to_thread(bridge.send_text, "hello")
    snap = await until(bridge, lambda s: [t.text for t in s.turns] == ["hello", "hi"])
    assert [t.role for t in snap.turns] == ["user", "assistant"]
    assert bridge.output_track().queued_frames == REPLY_FRAMES  # audio out, for the browser
    assert [e["type"] for e in transport.sent] == ["conversation.item.create", "response.create"]

    # Interrupt while the answer runs: playback cut, then cancel, clear, truncate (nothing
    # of the answer went to a browser, so it is truncated at 0 ms)
    await asyncio.to_thread(bridge.interrupt)
    cut = [e for e in transport.sent[2:]]
    assert [e["type"] for e in cut] == [
        "response.cancel",
        "output_audio_buffer.clear",
        "conversation.item.truncate",
    ]
    assert cut[2]["item_id"] == "item_a" and cut[2]["audio_end_ms"] == 0
    assert bridge.output_track().queued_frames == 0
    transport.finish()  # in real life the server's answer to the cancel

    # live settings through the same seam
    bridge.apply_settings(SessionConfig(threshold=0.7))
    snap = await until(bridge, lambda s: s.live.fields.get("threshold") == APPLIED)
    assert transport.sent[-1]["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.7

    await asyncio.to_thread(bridge.stop, 5.0)
    assert transport.closed and bridge.threads() == []
    assert bridge.snapshot().status == IDLE
    assert [t.text for t in bridge.snapshot().turns] == ["hello", "hi"]  # kept after the call


class CreatedTwice(MemoryTransport):
    async def connect(self) -> str:
        call_id = await super().connect()
        self.hear({"type": "session.created", "session": self.session})
        return call_id


async def test_a_second_session_created_does_not_set_the_call_up_again():
    """The call is set up once: the earlier conversation is carried over once, whatever the
    server repeats."""
    MemoryTransport.made.clear()
    bridge = Bridge(connector=CreatedTwice)
    history = (Turn("a", "user", "hello", "done"), Turn("b", "assistant", "hi", "done"))
    bridge.start(Target("memory://", "no-key", "local"), SessionConfig(), history)
    await until(bridge, lambda s: s.status == CONNECTED)
    (transport,) = MemoryTransport.made
    await until(bridge, lambda s: len(bridge.events("session.created")) == 2)
    carried = [e["item"]["content"][0]["text"] for e in transport.sent]
    assert carried == ["hello", "hi"]
    await asyncio.to_thread(bridge.stop, 5.0)
