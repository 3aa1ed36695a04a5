"""The GA protocol's choices and defaults: what a field may hold, and what it holds when
nobody set it. Both the client's settings and the local server's validation read them."""

from __future__ import annotations

from typing import Any

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
#: semantic_vad's eagerness, in OpenAI's order.
EAGERNESS = ("low", "medium", "high", "auto")
TURN_DETECTION_TYPES = ("server_vad", "semantic_vad")
NOISE_REDUCTION_TYPES = ("near_field", "far_field")
OUTPUT_MODALITIES = ("audio", "text")
OPENAI_MODELS = (
    "gpt-realtime",
    "gpt-realtime-1.5",
    "gpt-realtime-2",
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-mini",
)
TRANSCRIPTION_MODELS = ("gpt-4o-mini-transcribe", "gpt-4o-transcribe", "whisper-1")
DEFAULT_MODEL = "gpt-realtime"
DEFAULT_VOICE = "alloy"
#: What a backend that has temperature uses when none is set (OpenAI's beta default, which
#: the local server keeps); a cleared temperature is sent as this.
DEFAULT_TEMPERATURE = 0.8

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}
