"""What a reconnect carries from the call that ends to the one that begins.

The page shows every earlier turn as it was. The model gets only what was said in full,
re-sent as items under our own ids: after a truncate OpenAI keeps no text of an interrupted
answer (the user did not hear the rest), and a failed or switched-off transcription has no
words to send.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicelab.observers.transcript import NOT_TRANSCRIBED, Turn
from voicelab.protocol import client_events, ids
from voicelab.protocol.client_events import ItemCreate
from voicelab.protocol.items import text_message

#: Turns a reconnect carries into the new call (bounded, like everything else).
MAX_CARRIED_TURNS = 100


def carried(turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
    """The turns of a call that a new one carries over: the final ones, the most recent
    ``MAX_CARRIED_TURNS``."""
    return tuple(t for t in turns if t.final)[-MAX_CARRIED_TURNS:]


def carried_to_model(turn: Turn) -> bool:
    """Is an earlier turn re-sent to the model on reconnect? Only what was said in full."""
    return turn.status == "done" and bool(turn.text) and turn.text != NOT_TRANSCRIBED


@dataclass(frozen=True)
class CarryOver:
    shown: tuple[Turn, ...] = ()
    #: (the id it is re-sent under, the turn), oldest first
    carried: tuple[tuple[str, Turn], ...] = ()

    @classmethod
    def of(cls, history: tuple[Turn, ...], call_number: int) -> CarryOver:
        shown = history[-MAX_CARRIED_TURNS:]
        carried = tuple(
            (ids.carried_item_id(call_number, i), turn)
            for i, turn in enumerate(t for t in shown if carried_to_model(t))
        )
        return cls(shown, carried)

    @property
    def hidden_ids(self) -> tuple[str, ...]:
        """The server echoes the re-sent items: under these ids they are already shown."""
        return tuple(item_id for item_id, _ in self.carried)

    def events(self) -> list[ItemCreate]:
        return [
            client_events.item_create(text_message(turn.role, turn.text, item_id))
            for item_id, turn in self.carried
        ]
