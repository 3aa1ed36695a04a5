"""A page without a browser, for processes that stand in for visitors' machines: one
aiortc peer with a microphone track, timing and measuring every frame it receives. It
offers itself to ``URL/offer`` (JSON ``{"sdp", "page"}``), which ``tests/app_peer.py``
answers as the app would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voicelab.media.frames import frame_to_mono
from voicelab.media.levels import rms_dbfs
from voicelab.media.pcm_track import PcmTrack

AUDIBLE_DBFS = -45.0


class PagePeer:
    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = PcmTrack(max_buffer_s=60.0)
        #: (arrival, dBFS) of every frame received
        self.received: list[tuple[float, float]] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def connect(self, app_url: str, page: int) -> None:
        self.pc.addTransceiver(self.mic, direction="sendrecv")
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "page": page}
        async with httpx.AsyncClient(timeout=30) as client:
            answered = await client.post(f"{app_url}/offer", json=offer)
        answered.raise_for_status()
        await self.pc.setRemoteDescription(RTCSessionDescription(answered.json()["sdp"], "answer"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.received.append((time.monotonic(), rms_dbfs(frame_to_mono(frame))))

    def speak(self, samples: np.ndarray) -> None:
        self.mic.push(samples)

    def gaps_ms(self, since: float) -> np.ndarray:
        times = np.array([t for t, _ in self.received if t >= since])
        return np.diff(times) * 1000.0 if len(times) > 1 else np.array([])

    def stats(self) -> dict[str, int]:
        return {
            "frames": len(self.received),
            "loud": sum(1 for _, dbfs in self.received if dbfs > AUDIBLE_DBFS),
        }

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.mic.stop()
        await self.pc.close()
