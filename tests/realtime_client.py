"""A test client: the app's own WebRTC transport (a real aiortc peer) with a microphone track
fed by the test, recording every server event, validating it against the official types, and
measuring the audio it receives."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from tests.event_validation import validation_problem
from voicelab.media.frames import WEBRTC_RATE, frame_to_mono
from voicelab.media.levels import rms_dbfs
from voicelab.media.pcm_track import PcmTrack
from voicelab.upstream.transport import Target
from voicelab.upstream.webrtc import WebRtcTransport


@dataclass
class Received:
    at: float
    dbfs: float


@dataclass
class Client:
    base_url: str
    api_key: str
    session: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    audio: list[Received] = field(default_factory=list)
    allow_unknown: bool = False

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()
        # Tests queue whole phrases at once; a live microphone needs far less.
        self.mic = PcmTrack(max_buffer_s=60.0, drop_oldest=True)
        target = Target(self.base_url, self.api_key, "local")
        self.conn = WebRtcTransport(target, self.session, self.mic, self)

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.arrivals.append(time.monotonic())
        problem = validation_problem(event)
        if problem and not (self.allow_unknown and event["type"].startswith("voicelab.")):
            self.problems.append(problem)
        self._changed.set()

    def on_audio(self, frame: av.AudioFrame) -> None:
        self.audio.append(Received(time.monotonic(), rms_dbfs(frame_to_mono(frame))))

    def on_state(self, state: str) -> None:
        pass

    async def connect(self) -> str:
        call_id = await self.conn.connect()
        await self.wait_for("session.created")
        return call_id

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def types(self) -> list[str]:
        return [e.get("type", "?") for e in self.events]

    async def wait_for(
        self,
        kind: str,
        timeout: float = 15.0,
        where: Callable[[dict[str, Any]], bool] = lambda e: True,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first event of ``kind`` (at index >= ``after``) that matches ``where``."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[after:]:
                if event.get("type") == kind and where(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} within {timeout}s; saw {self.types()}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def arrival_of(self, event: dict[str, Any]) -> float:
        return self.arrivals[next(i for i, e in enumerate(self.events) if e is event)]

    def send(self, event: dict[str, Any]) -> None:
        self.conn.send(event)

    def speak(self, samples: np.ndarray) -> float:
        """Queue microphone audio (paced out at real time); returns when it will end."""
        ahead = self.mic.buffered_samples / WEBRTC_RATE
        self.mic.push(samples)
        return time.monotonic() + ahead + len(samples) / WEBRTC_RATE

    def loud_frames(self, since: float = 0.0, floor_dbfs: float = -45.0) -> list[Received]:
        return [r for r in self.audio if r.at >= since and r.dbfs > floor_dbfs]

    async def close(self) -> None:
        await self.conn.close()

    def assert_valid(self) -> None:
        assert not self.problems, "events that do not validate:\n" + "\n".join(self.problems)


def user_text(text: str) -> dict[str, Any]:
    """A ``conversation.item.create`` event carrying a typed user message."""
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }
