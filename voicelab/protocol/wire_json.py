"""JSON off the wire, bounded in depth. Python's parser recurses, and so do the validators,
``copy.deepcopy`` and the event log after it: a message nested a few thousand levels deep
raised ``RecursionError``, which is not a ``ValueError`` and escaped every bad-input
handler. Both ends parse what the other sends through ``loads``."""

from __future__ import annotations

import json
from typing import Any

#: Deeper than any Realtime event or session (they nest 5 or 6 levels; tool schemas more).
MAX_DEPTH = 64


class TooDeep(ValueError):
    """Nested deeper than ``MAX_DEPTH``: refused before anything recurses into it."""

    def __init__(self) -> None:
        super().__init__(f"it is nested more than {MAX_DEPTH} levels deep")


def depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests (without recursing)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:  # one level past the limit is enough to refuse
            stack.extend((child, level + 1) for child in children)
    return deepest


def loads(text: str | bytes) -> Any:
    """``json.loads``; raises ``ValueError`` (``TooDeep`` for depth) on anything it refuses."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise TooDeep() from exc
    if depth(value) > MAX_DEPTH:
        raise TooDeep()
    return value
