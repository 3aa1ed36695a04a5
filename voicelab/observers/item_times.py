"""When each conversation item first appeared, on the bridge's clock: the time a turn is
shown with."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from voicelab.observers.stream import Direction

_FIRST_SIGHT = (
    "input_audio_buffer.speech_started",
    "input_audio_buffer.committed",
    "conversation.item.added",
    "conversation.item.created",
    "response.output_item.added",
)


class ItemTimes:
    def __init__(self, keep: int = 500) -> None:
        self._at: OrderedDict[str, float] = OrderedDict()
        self._keep = keep

    def observe(self, direction: Direction, event: Mapping[str, Any]) -> None:
        if direction != "received" or event.get("type") not in _FIRST_SIGHT:
            return
        item = event.get("item")
        item_id = item.get("id") if isinstance(item, Mapping) else event.get("item_id")
        if isinstance(item_id, str) and item_id not in self._at:
            self._at[item_id] = time.monotonic()
            if len(self._at) > self._keep:
                self._at.popitem(last=False)

    def times(self) -> dict[str, float]:
        return dict(self._at)
