"""Turn control under the call: Respond now and Interrupt always; Start talking and Send
turn when turn detection is off (push-to-talk)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from components import state
from voicelab.call import Bridge, BridgeError


def _button(column, label: str, intent: Callable[[], None], help_text: str) -> None:
    if column.button(label, help=help_text, width="stretch"):
        try:
            intent()
        except BridgeError as exc:
            st.toast(str(exc))


def controls(bridge: Bridge) -> None:
    chosen = state.chosen()
    push_to_talk = chosen is not None and chosen.turn_detection == "off"
    columns = st.columns(4 if push_to_talk else 2)
    _button(columns[0], "Respond now", bridge.respond_now, "Ask the model to answer now.")
    _button(
        columns[1],
        "Interrupt",
        bridge.interrupt,
        "Stop the model mid-sentence and drop what it has not said yet.",
    )
    if push_to_talk:
        _button(columns[2], "Start talking", bridge.talk_start, "Begin your turn.")
        _button(columns[3], "Send turn", bridge.talk_send, "End your turn and get an answer.")
