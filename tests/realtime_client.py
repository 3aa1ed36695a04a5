"""A test client: a real aiortc peer (``voicelab.connection``) that records every server event,
validates it against the official types, and measures the audio it receives."""

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
from voicelab.audio import WEBRTC_RATE, frame_to_mono, rms_dbfs
from voicelab.connection import RealtimeConnection


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
        self.conn = RealtimeConnection(
            self.base_url,
            self.api_key,
            self.session,
            self._on_event,
            self._on_audio,
            mic_buffer_s=60.0,  # tests queue whole phrases at once; a live mic needs far less
        )

    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.arrivals.append(time.monotonic())
        problem = validation_problem(event)
        if problem and not (self.allow_unknown and event["type"].startswith("voicelab.")):
            self.problems.append(problem)
        self._changed.set()

    def _on_audio(self, frame: av.AudioFrame) -> None:
        self.audio.append(Received(time.monotonic(), rms_dbfs(frame_to_mono(frame))))

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
        ahead = self.conn.mic.buffered_samples / WEBRTC_RATE
        self.conn.push_mic(samples)
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
