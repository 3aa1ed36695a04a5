"""What the local server says back.

The default ``LocalResponder`` needs no network and no model: it answers from what it heard,
so a user can tell at once whether recognition worked, and it is deterministic for a given
conversation, so tests can rely on it. ``temperature`` (a local extension) changes how it
picks its words: at 0 it always takes the most likely phrasing; higher values sample more
freely among the alternatives, seeded by the conversation so a rerun gives the same reply.

``ChatCompletionsResponder`` sends the conversation to any OpenAI-compatible
``/chat/completions`` URL instead.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass
from typing import Protocol

import httpx


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str


@dataclass(frozen=True)
class ReplyRequest:
    history: tuple[Turn, ...]  # the conversation so far, oldest first; the last is the user's
    instructions: str
    temperature: float
    prompt_user: bool = False  # the user went quiet past idle_timeout_ms


class ResponderError(Exception):
    """The reply could not be produced; the message is safe to show a user."""


class Responder(Protocol):
    async def reply(self, request: ReplyRequest) -> str: ...


# Each slot lists alternatives, most likely first, with relative weights.
_ACK = (("You said", 6.0), ("I heard", 3.0), ("It sounded like", 1.5), ("Did you say", 1.0))
_NOTHING = (
    ("I didn't catch that. Could you say it again?", 5.0),
    ("Sorry, I missed that. Please try once more.", 2.0),
)
_PROMPT = (("Are you still there?", 5.0), ("Take your time. I'm still listening.", 2.0))
_TOPICS: tuple[tuple[tuple[str, ...], tuple[tuple[str, float], ...]], ...] = (
    (
        ("hello", "hi", "hey", "morning", "evening"),
        (("Hello to you too!", 4.0), ("Nice to hear from you.", 2.0)),
    ),
    (
        ("weather", "rain", "sun", "sunny", "cold", "warm"),
        (
            ("I can't look outside, but I hope the weather is kind to you.", 4.0),
            ("No forecast here, I'm afraid. I'm an offline voice.", 2.0),
        ),
    ),
    (
        ("story", "tell"),
        (("Once upon a time, a tiny server learned to talk.", 4.0), ("Here is a short one.", 1.0)),
    ),
    (("name", "who"), (("I'm the Voice Lab local model.", 4.0), ("Call me Local.", 1.0))),
    (("thanks", "thank"), (("You're welcome!", 4.0), ("Happy to help.", 2.0))),
)
_CLOSERS = (
    ("What else would you like to try?", 3.0),
    ("Go ahead, I'm listening.", 2.0),
    ("Try changing a setting and talk again.", 1.0),
)
_BRIEF = re.compile(r"\b(brief|short|concise|terse|one sentence)\b", re.IGNORECASE)


class LocalResponder:
    async def reply(self, request: ReplyRequest) -> str:
        rng = random.Random(_seed(request))
        pick = _picker(rng, request.temperature)
        if request.prompt_user:
            return pick(_PROMPT)
        heard = request.history[-1].text.strip() if request.history else ""
        if not heard:
            return pick(_NOTHING)
        sentence = f"{pick(_ACK)}: {heard}."
        if _BRIEF.search(request.instructions):
            return sentence
        words = set(re.findall(r"[a-z']+", heard.lower()))
        for keys, options in _TOPICS:
            if words.intersection(keys):
                return f"{sentence} {pick(options)}"
        return f"{sentence} {pick(_CLOSERS)}"


def _seed(request: ReplyRequest) -> int:
    text = "\n".join(f"{t.role}:{t.text}" for t in request.history)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _picker(rng: random.Random, temperature: float):  # type: ignore[no-untyped-def]
    def pick(options: tuple[tuple[str, float], ...]) -> str:
        if temperature <= 0.05:
            return options[0][0]
        # Softmax over log-weights at the given temperature, as a sampler does with logits.
        logits = [math.log(w) / temperature for _, w in options]
        top = max(logits)
        weights = [math.exp(v - top) for v in logits]
        return rng.choices([text for text, _ in options], weights=weights)[0]

    return pick


class ChatCompletionsResponder:
    """Any OpenAI-compatible chat-completions endpoint (a local llama.cpp, vLLM, Ollama, …)."""

    def __init__(
        self, url: str, model: str, api_key: str | None = None, timeout_s: float = 20.0
    ) -> None:
        self.url = url
        self.model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout_s

    async def reply(self, request: ReplyRequest) -> str:
        messages = [{"role": "system", "content": request.instructions}]
        messages += [{"role": t.role, "content": t.text} for t in request.history if t.text]
        if request.prompt_user:
            messages.append({"role": "user", "content": "(The user has gone quiet.)"})
        body = {"model": self.model, "messages": messages, "temperature": request.temperature}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                answer = await client.post(self.url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise ResponderError(f"The chat endpoint could not be reached ({exc!r}).") from exc
        if answer.status_code != 200:
            raise ResponderError(f"The chat endpoint answered {answer.status_code}.")
        try:
            return str(answer.json()["choices"][0]["message"]["content"]).strip()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ResponderError("The chat endpoint's answer had no message in it.") from exc
