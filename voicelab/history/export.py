"""One stored call as a zip someone can read without Voice Lab: a transcript for people, JSON
for tools, the audio when there is some."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import zipfile
from typing import Any

from voicelab.history.records import StoredCall

_SPEAKERS = {"user": "You", "assistant": "Model"}
_MARKS = {"interrupted": "interrupted", "failed": "failed", "streaming": "unfinished"}


def _json(value: Any) -> str:
    # default=str: an export shows whatever is there rather than failing on one odd value.
    return json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n"


def _clock(at: Any, pattern: str) -> str | None:
    if isinstance(at, bool) or not isinstance(at, int | float):
        return None
    try:
        return time.strftime(pattern, time.localtime(at))
    except (OverflowError, OSError, ValueError):
        return None


def _turn_line(turn: dict[str, Any]) -> str:
    role = str(turn.get("role") or "?")
    speaker = _SPEAKERS.get(role, role.title())
    when = _clock(turn.get("at"), "%H:%M:%S")
    head = f"**{speaker}**" + (f" ({when})" if when else "")
    text = " ".join(str(turn.get("text") or "").split()) or "*(no text)*"
    mark = _MARKS.get(str(turn.get("status") or ""))
    return f"{head}: {text}" + (f" *({mark})*" if mark else "")


def transcript_markdown(call: StoredCall) -> str:
    summary = call.summary
    lines = [f"# Voice Lab call {summary.call_id}", ""]
    when = _clock(summary.started_at, "%Y-%m-%d %H:%M:%S")
    lines.append(f"- When: {when} (local time)" if when else "- When: unknown")
    lines.append(f"- Backend: {summary.backend}")
    lines.append(f"- Model: {summary.model}")
    if summary.duration_s is not None:
        lines.append(f"- Duration: {summary.duration_s:.0f} s")
    if summary.status:
        lines.append(f"- Ended: {summary.status}" + (f" ({call.problem})" if call.problem else ""))
    lines.append("")
    # A blank line between turns: Markdown would join adjacent lines into one paragraph.
    for turn in call.turns:
        lines += [_turn_line(turn), ""]
    if not call.turns:
        lines += ["*(nothing was said)*", ""]
    return "\n".join(lines)


def export_zip(call: StoredCall, wav: bytes | None) -> bytes:
    events = "".join(
        json.dumps(
            {"seq": e.seq, "at": e.at, "direction": e.direction, "event": e.event},
            ensure_ascii=False,
            default=str,
        )
        + "\n"
        for e in call.events
    )
    metrics = {
        **dataclasses.asdict(call.summary),
        "problem": call.problem,
        "figures": call.figures,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("transcript.md", transcript_markdown(call))
        archive.writestr("transcript.json", _json(call.turns))
        archive.writestr("events.jsonl", events)
        archive.writestr("session.json", _json(call.settings))
        archive.writestr("metrics.json", _json(metrics))
        if wav is not None:
            # PCM hardly deflates; storing it keeps a long call's export quick.
            archive.writestr("audio.wav", wav, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()
