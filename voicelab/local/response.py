"""One model response: think (the responder), speak (the synthesizer, onto the call's audio
track) and narrate it in OpenAI's event order.

The transcript deltas are paced by the audio actually sent, word by word, so a client that
shows them as they arrive shows what the user is hearing. A response ends when its audio has
gone out, or when it is cancelled (barge-in, ``response.cancel``); then the item keeps only
the words that were heard.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from voicelab.local.conversation import Conversation, server_item
from voicelab.local.responder import ReplyRequest, Responder, ResponderError
from voicelab.local.synthesizer import Speech, Synthesizer
from voicelab.local.usage import Usage, assistant_audio_tokens, text_tokens
from voicelab.media.frames import WEBRTC_RATE
from voicelab.media.pcm_track import PcmTrack
from voicelab.protocol.ids import new_id


@dataclass(frozen=True)
class ResponseOptions:
    instructions: str
    modalities: list[str]
    voice: str
    speed: float
    temperature: float
    max_output_tokens: int | None
    metadata: dict[str, Any] | None = None
    prompt_user: bool = False
    synth_delay_s: float = 0.0


class CallContext(Protocol):
    """What a response needs from its call."""

    conversation: Conversation
    synthesizer: Synthesizer
    responder: Responder
    speech_out: PcmTrack

    def send(self, event: dict[str, Any]) -> None: ...


class ResponseRun:
    def __init__(
        self,
        call: CallContext,
        options: ResponseOptions,
        on_audio_started: Callable[[], None],
    ) -> None:
        self.call = call
        self.options = options
        self.id = new_id("resp")
        self.item_id: str | None = None
        self.cancel_reason: str | None = None
        self._cancelled = asyncio.Event()
        #: Set when the run is over, its response.done sent: a response queued behind it
        #: starts only then, so a client never sees two responses running at once.
        self.settled = asyncio.Event()
        self._on_audio_started = on_audio_started
        self._audio_start: int | None = None
        self.audio_playing = False

    @property
    def active(self) -> bool:
        return self.cancel_reason is None

    def cancel(self, reason: str) -> None:
        """Stop now: unsent audio is dropped at once, the rest of the run winds down."""
        if self.cancel_reason is not None:
            return
        self.cancel_reason = reason
        self._cancelled.set()
        if self._audio_start is not None:
            self.call.speech_out.clear()

    def played_ms(self) -> int:
        if self._audio_start is None:
            return 0
        sent = self.call.speech_out.sent_total - self._audio_start
        return max(0, sent * 1000 // WEBRTC_RATE)

    def _response(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict:
        body = {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": None,
            "output": output,
            "conversation_id": "conv_local",
            "output_modalities": self.options.modalities,
            "max_output_tokens": self.options.max_output_tokens or "inf",
            "audio": {
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": self.options.voice,
                }
            },
            "usage": None,
            "metadata": self.options.metadata,
        }
        body.update(extra)
        return body

    async def _until_cancelled(self, coro):  # type: ignore[no-untyped-def]
        """Run ``coro`` unless the response is cancelled first (then None)."""
        task = asyncio.ensure_future(coro)
        stop = asyncio.ensure_future(self._cancelled.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        return None

    async def run(self) -> None:
        send = self.call.send
        conversation = self.call.conversation
        send({"type": "response.created", "response": self._response("in_progress", [])})
        usage = conversation.input_usage(self.options.instructions)
        request = ReplyRequest(
            conversation.turns(),
            self.options.instructions,
            self.options.temperature,
            self.options.prompt_user,
        )
        try:
            text = await self._until_cancelled(self.call.responder.reply(request))
        except ResponderError as exc:
            self._finish_failed(str(exc), usage)
            return
        if text is None:
            self._finish_cancelled_early(usage)
            return
        if "audio" in self.options.modalities:
            await self._speak(text, usage)
        else:
            self._write(text, usage)

    def _finish_failed(self, message: str, usage: Usage) -> None:
        self.cancel_reason = "failed"
        details = {
            "type": "failed",
            "error": {"type": "server_error", "code": "responder_failed", "message": message},
        }
        self.call.send(
            {
                "type": "response.done",
                "response": self._response(
                    "failed", [], status_details=details, usage=usage.as_dict()
                ),
            }
        )

    def _finish_cancelled_early(self, usage: Usage) -> None:
        details = {"type": "cancelled", "reason": self.cancel_reason}
        self.call.send(
            {
                "type": "response.done",
                "response": self._response(
                    "cancelled", [], status_details=details, usage=usage.as_dict()
                ),
            }
        )

    def _open_item(self, part: dict[str, Any]) -> dict[str, Any]:
        send = self.call.send
        item = server_item("assistant", [_item_content(part)], status="in_progress")
        self.item_id = item["id"]
        previous = self.call.conversation.add(item)
        send(
            {
                "type": "response.output_item.added",
                "response_id": self.id,
                "output_index": 0,
                "item": copy.deepcopy(item),
            }
        )
        send(
            {
                "type": "conversation.item.added",
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            }
        )
        send(
            {
                "type": "response.content_part.added",
                **self._where(),
                "part": copy.deepcopy(part),
            }
        )
        return item

    def _where(self) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": self.item_id,
            "output_index": 0,
            "content_index": 0,
        }

    def _close_item(
        self, item: dict[str, Any], part: dict[str, Any], status: str, usage: Usage, details
    ) -> None:
        send = self.call.send
        item["status"] = "completed" if status == "completed" else "incomplete"
        item["content"][0] = _item_content(part)
        send({"type": "response.content_part.done", **self._where(), "part": copy.deepcopy(part)})
        send(
            {
                "type": "response.output_item.done",
                "response_id": self.id,
                "output_index": 0,
                "item": copy.deepcopy(item),
            }
        )
        send({"type": "conversation.item.done", "item": copy.deepcopy(item)})
        send(
            {
                "type": "response.done",
                "response": self._response(
                    status, [copy.deepcopy(item)], status_details=details, usage=usage.as_dict()
                ),
            }
        )

    def _limit(self, words: list[str], cost: Callable[[int], int]) -> int:
        """How many words fit in max_output_tokens (all, when unlimited)."""
        limit = self.options.max_output_tokens
        if limit is None:
            return len(words)
        n = len(words)
        while n > 1 and cost(n) > limit:
            n -= 1
        return n

    def _write(self, text: str, usage: Usage) -> None:
        words = text.split(" ")
        n = self._limit(words, lambda k: text_tokens(" ".join(words[:k])))
        status, details = "completed", None
        if n < len(words):
            status = "incomplete"
            details = {"type": "incomplete", "reason": "max_output_tokens"}
        text = " ".join(words[:n])
        item = self._open_item({"type": "text", "text": ""})
        for i, word in enumerate(words[:n]):
            delta = word if i == 0 else " " + word
            self.call.send({"type": "response.output_text.delta", **self._where(), "delta": delta})
        self.call.send({"type": "response.output_text.done", **self._where(), "text": text})
        usage.output_text = text_tokens(text)
        self._close_item(item, {"type": "text", "text": text}, status, usage, details)

    async def _speak(self, text: str, usage: Usage) -> None:
        loop = asyncio.get_running_loop()
        if self.options.synth_delay_s:
            await self._until_cancelled(asyncio.sleep(self.options.synth_delay_s))
        speech: Speech | None = await self._until_cancelled(
            loop.run_in_executor(
                None, self.call.synthesizer.synthesize, text, self.options.voice, self.options.speed
            )
        )
        if speech is None:
            self._finish_cancelled_early(usage)
            return
        speech, status, details = self._fit(speech)
        item = self._open_item({"type": "audio", "transcript": ""})
        self.call.conversation.update(self.item_id, speech=speech, audio_ms=speech.duration_ms)
        out = self.call.speech_out
        start = out.push(speech.samples)
        self._audio_start = start
        self._on_audio_started()
        finished = await self._play(speech, start)
        where = self._where()
        played_ms = self.played_ms() if not finished else speech.duration_ms
        # A client truncate that came in while this run wound down may have cut the item
        # shorter than what was sent: the shorter cut (what the user heard) stands.
        played_ms = min(played_ms, self.call.conversation.audio_ms(self.item_id, played_ms))
        if finished:
            heard = speech.text
        else:
            status = "cancelled"
            details = {"type": "cancelled", "reason": self.cancel_reason or "client_cancelled"}
            heard = speech.heard_until(played_ms)
            self.call.conversation.update(self.item_id, audio_ms=played_ms)
            if self.audio_playing:
                self.call.send({"type": "output_audio_buffer.cleared", "response_id": self.id})
        self.call.send({"type": "response.output_audio.done", **where})
        self.call.send(
            {"type": "response.output_audio_transcript.done", **where, "transcript": heard}
        )
        usage.output_text = text_tokens(heard)
        usage.output_audio = assistant_audio_tokens(played_ms)
        self._close_item(item, {"type": "audio", "transcript": heard}, status, usage, details)
        if finished and self.audio_playing:
            self.call.send({"type": "output_audio_buffer.stopped", "response_id": self.id})
        self.audio_playing = False
        if self.cancel_reason is None:
            self.cancel_reason = "done"

    async def _play(self, speech: Speech, start: int) -> bool:
        """Narrate ``speech`` as its audio goes out from stream position ``start``: the
        buffer started, then each word's transcript delta once its audio has begun. True
        when all of it went out, False when cut short."""
        out = self.call.speech_out
        if not await out.wait_sent(start + 1):
            return False
        self.audio_playing = True
        self.call.send({"type": "output_audio_buffer.started", "response_id": self.id})
        where, heard = self._where(), ""
        for i, word in enumerate(speech.words):
            position = start + word.audio_ms * WEBRTC_RATE // 1000 + 1
            if self._cancelled.is_set() or not await out.wait_sent(position):
                return False
            upto = speech.words[i + 1].start if i + 1 < len(speech.words) else len(speech.text)
            delta = speech.text[len(heard) : upto]
            heard += delta
            self.call.send(
                {"type": "response.output_audio_transcript.delta", **where, "delta": delta}
            )
        return not self._cancelled.is_set() and await out.wait_sent(start + len(speech.samples))

    def _fit(self, speech: Speech) -> tuple[Speech, str, dict[str, Any] | None]:
        """Cut speech to max_output_tokens (text + audio tokens), at a word boundary."""
        words = list(speech.words)
        if self.options.max_output_tokens is None or not words:
            return speech, "completed", None

        def cost(k: int) -> int:
            end_ms = words[k].audio_ms if k < len(words) else speech.duration_ms
            return text_tokens(speech.text[: words[k - 1].end]) + assistant_audio_tokens(end_ms)

        n = self._limit([speech.text[w.start : w.end] for w in words], cost)
        if n == len(words) and cost(n) <= self.options.max_output_tokens:
            return speech, "completed", None
        end_ms = words[n].audio_ms if n < len(words) else speech.duration_ms
        cut = Speech(
            speech.text[: words[n - 1].end],
            speech.samples[: end_ms * WEBRTC_RATE // 1000],
            tuple(words[:n]),
        )
        return cut, "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}


def _item_content(part: dict[str, Any]) -> dict[str, Any]:
    """A response's content part (``audio``/``text``) as it sits in the item."""
    if part["type"] == "audio":
        return {"type": "output_audio", "transcript": part["transcript"]}
    return {"type": "output_text", "text": part["text"]}
