"""A browser leg without a browser: the page's peer (a microphone track, the audio it
receives) connected over real WebRTC to a server-side peer built the way streamlit-webrtc
builds it, with the same ``AudioSinkTrack`` feeding the bridge and the bridge's output track
as the source, as ``components/call.py`` passes them to ``webrtc_streamer``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from streamlit_webrtc.sink import AudioSinkTrack

from tests.realtime_client import Received
from voicelab.call import Bridge, Snapshot
from voicelab.media.frames import frame_to_mono
from voicelab.media.levels import rms_dbfs
from voicelab.media.pcm_track import PcmTrack


class _TimedMic(PcmTrack):
    """The page's microphone, noting when each frame went out and how loud it was: the
    page's own clock for latency, independent of the bridge's."""

    def __init__(self) -> None:
        super().__init__(max_buffer_s=60.0)
        self.sent: deque[Received] = deque(maxlen=3000)

    async def recv(self):  # type: ignore[override]
        frame = await super().recv()
        self.sent.append(Received(time.monotonic(), rms_dbfs(frame_to_mono(frame))))
        return frame


class BrowserLeg:
    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.sink = AudioSinkTrack(callback=bridge.on_browser_frame)
        self.sink._on_ended_callback = bridge.on_browser_ended
        self.mic = _TimedMic()
        self.page = RTCPeerConnection()
        self.server = RTCPeerConnection()
        self.heard: list[Received] = []
        #: The last minute of what the page received, as (arrival, mono samples) per frame.
        self.audio: deque[tuple[float, np.ndarray]] = deque(maxlen=3000)
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.page.addTransceiver(self.mic, direction="sendrecv")
        self.page.on("track", self._on_page_track)

        @self.server.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.sink.addTrack(track)
            self.sink.start()

        await self.page.setLocalDescription(await self.page.createOffer())
        await self.server.setRemoteDescription(self.page.localDescription)
        self.server.addTrack(self.bridge.output_track())
        await self.server.setLocalDescription(await self.server.createAnswer())
        await self.page.setRemoteDescription(self.server.localDescription)

    def _on_page_track(self, track: MediaStreamTrack) -> None:
        async def read() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                at, mono = time.monotonic(), frame_to_mono(frame)
                self.heard.append(Received(at, rms_dbfs(mono)))
                self.audio.append((at, mono))

        self._reader = asyncio.ensure_future(read())

    def speak(self, samples: np.ndarray) -> None:
        self.mic.push(samples)

    def loud_frames(self, since: float = 0.0, floor_dbfs: float = -45.0) -> list[Received]:
        return [r for r in self.heard if r.at >= since and r.dbfs > floor_dbfs]

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.mic.stop()
        with contextlib.suppress(Exception):
            await self.page.close()
        with contextlib.suppress(Exception):
            await self.server.close()
        self.sink.stop()


async def until(
    bridge: Bridge, check: Callable[[Snapshot], bool], timeout: float = 20.0, what: str = ""
) -> Snapshot:
    """Poll the bridge's snapshot the way the page's fragment does."""
    deadline = time.monotonic() + timeout
    while True:
        snap = bridge.snapshot()
        if check(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}: {snap}")
        await asyncio.sleep(0.05)
