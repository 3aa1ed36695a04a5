"""Intents into the live call: each is carried out on the call's own loop, so what it
decides (Interrupt's cut) is decided on the thread of the events it answers, and each that
cannot be carried out now is refused in one sentence. ``Bridge`` has these."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from voicelab.call import problems
from voicelab.call.call_thread import CallThread, LoopClosed
from voicelab.call.snapshot import CONNECTED
from voicelab.call.upstream_call import UpstreamCall
from voicelab.protocol.client_events import EventTooLarge

T = TypeVar("T")

#: How long an intent may wait for the call's loop to take it.
INTENT_TIMEOUT_S = 3.0


class BridgeError(ValueError):
    """An intent that cannot be carried out now; ``str()`` tells the user why."""


@dataclass(frozen=True)
class Running:
    """The call under way and its thread."""

    call: UpstreamCall
    thread: CallThread
    number: int = 0  # the call's number in this process (carried item ids name it)
    history_id: str | None = None  # where the history keeps it (None: not kept)


class Intents:
    """What the page asks of the live call (``_running`` and ``_status`` are the bridge's)."""

    _running: Running | None
    _status: str

    def send_text(self, text: str) -> None:
        """A typed user message into the same call, then ask for a response."""
        text = text.strip()
        if not text:
            raise BridgeError(problems.EMPTY_MESSAGE)
        self._intent("typed messages go into a live call", lambda c: c.send_text(text))

    def respond_now(self) -> None:
        """Ask for a response to what is in the conversation now."""
        self._intent("there is nothing to respond to yet", UpstreamCall.respond_now)

    def interrupt(self) -> None:
        """Stop the model mid-sentence: cut what the bridge has not yet played, cancel the
        response, clear what the server still holds, truncate to what was heard."""
        self._intent("there is nothing to interrupt", UpstreamCall.interrupt)

    def talk_start(self) -> None:
        """Push-to-talk (turn detection off): begin a turn with an empty input buffer."""
        self._intent("push-to-talk works in a live call", UpstreamCall.talk_start)

    def talk_send(self) -> None:
        """Push-to-talk: end the turn (commit what was said) and ask for a response."""
        self._intent("push-to-talk works in a live call", UpstreamCall.talk_send)

    def _intent(self, why: str, action: Callable[[UpstreamCall], None]) -> None:
        """Carry out ``action`` on the call's own loop, so what it decides (Interrupt's
        cut) is decided on the thread of the events it answers."""
        running = self._running
        if running is None or self._status != CONNECTED:
            raise BridgeError(problems.start_first(why))
        try:
            running.thread.run(lambda: action(running.call), INTENT_TIMEOUT_S)
        except LoopClosed as exc:
            raise BridgeError(problems.ENDED) from exc
        except EventTooLarge as exc:
            raise BridgeError(str(exc)) from exc
        except TimeoutError as exc:
            raise BridgeError(problems.NOT_TAKEN_IN_TIME) from exc
        except Exception as exc:  # cancelled by the call ending, channel closed, …
            raise BridgeError(problems.NOT_READY) from exc

    def run_on_call(
        self, make: Callable[[], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """Run ``make()`` on the current call's own loop (replay feeds its audio there)."""
        running = self._running
        if running is None:
            raise BridgeError(problems.ENDED)
        return asyncio.run_coroutine_threadsafe(make(), running.thread.loop)
