"""Server events as the rest of the app sees them: always GA names, always a dict with a type.

Older servers (and the beta protocol) use other names for the same events; mapping them here
means no other module has to know two spellings.
"""

from __future__ import annotations

from typing import Any

from voicelab.protocol import wire_json
from voicelab.protocol.ids import BEST_EFFORT_PREFIX

#: A server event, as parsed from the wire (GA names).
ServerEvent = dict[str, Any]

#: Beta prefixes and names, and their GA equivalents. Prefixes map whole families
#: (``response.audio_transcript.delta`` → ``response.output_audio_transcript.delta``).
_PREFIX_ALIASES = (
    ("response.audio_transcript.", "response.output_audio_transcript."),
    ("response.text.", "response.output_text."),
    ("response.audio.", "response.output_audio."),
)
_NAME_ALIASES = {"conversation.item.created": "conversation.item.added"}

#: Our own event type for a message that is not a JSON object; never sent by a server.
MALFORMED = "voicelab.malformed_event"
#: A message longer than this is not parsed, let alone kept in the event log: no real event
#: comes near it (the longest answers' response.done are tens of kilobytes).
MAX_EVENT_CHARS = 128 * 1024


def ga_type(kind: str) -> str:
    if kind in _NAME_ALIASES:
        return _NAME_ALIASES[kind]
    for beta, ga in _PREFIX_ALIASES:
        if kind.startswith(beta):
            return ga + kind[len(beta) :]
    return kind


def parse(message: str | bytes) -> ServerEvent:
    """One message as a GA-named event; garbage becomes a ``MALFORMED`` event rather than
    an exception, so one bad message never ends a call."""
    if len(message) > MAX_EVENT_CHARS:
        return {"type": MALFORMED, "raw": str(message[:200]), "size": len(message)}
    try:
        event = wire_json.loads(message)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return {"type": MALFORMED, "raw": str(message)[:200]}
    kind = ga_type(event["type"])
    if kind != event["type"]:
        event = {**event, "type": kind}
    return event


def error_text(event: ServerEvent) -> str:
    """The sentence to show for an ``error`` event."""
    error = event.get("error") or {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = str(error.get("message") or "The model reported an error.")
    code = error.get("code")
    return f"{message} ({code})" if code and code not in message else message


def answered_event_id(event: ServerEvent) -> str | None:
    """The ``event_id`` of the client event an ``error`` answers, if it names one."""
    error = event.get("error")
    if event.get("type") != "error" or not isinstance(error, dict):
        return None
    answered = error.get("event_id")
    return answered if isinstance(answered, str) else None


def answers_best_effort(event: ServerEvent) -> bool:
    """Is this an ``error`` about a best-effort event of ours (a cut)? The server had
    already ended the answer there, which is no news to the user."""
    answered = answered_event_id(event)
    return answered is not None and answered.startswith(BEST_EFFORT_PREFIX)
