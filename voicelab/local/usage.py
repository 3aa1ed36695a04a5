"""Token usage counted by OpenAI's published rules, so cost figures computed from the local
server's ``response.done`` have the same shape and scale as OpenAI's.

Audio: user audio 1 token per 100 ms, assistant audio 1 token per 50 ms. Text: estimated at
one token per four characters (there is no tokenizer offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def user_audio_tokens(ms: float) -> int:
    return math.ceil(ms / 100)


def assistant_audio_tokens(ms: float) -> int:
    return math.ceil(ms / 50)


@dataclass
class Usage:
    input_text: int = 0
    input_audio: int = 0
    output_text: int = 0
    output_audio: int = 0

    def as_dict(self) -> dict[str, Any]:
        inputs = self.input_text + self.input_audio
        outputs = self.output_text + self.output_audio
        return {
            "total_tokens": inputs + outputs,
            "input_tokens": inputs,
            "output_tokens": outputs,
            "input_token_details": {
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": self.output_text,
                "audio_tokens": self.output_audio,
            },
        }
