"""The sentences a call can end with, or refuse an intent with: what happened and what to
do, in one place so their wording can be read together."""

from __future__ import annotations

CRASHED = "The call failed unexpectedly; press Start again."
CONNECTION_LOST = "The connection to the Realtime service was lost; press Start."
ENDED = "The call has ended; press Start to talk again."
NOT_TAKEN_IN_TIME = "The call did not take the message in time; try again."
NOT_READY = "The call is not ready for messages; try again."
NOT_SENT = "It could not be sent."
EMPTY_MESSAGE = "Type a message first."


def start_first(why: str) -> str:
    return f"Start the call first; {why}."


def stuck(ice_state: str) -> str:
    if ice_state == "failed":
        return (
            "The media connection to the Realtime service could not be made (ICE failed): "
            "outbound UDP is probably blocked on this server."
        )
    return (
        f"The media connection to the Realtime service is stuck in '{ice_state}': outbound "
        "UDP is probably blocked on this server."
    )


def never_created(timeout_s: float) -> str:
    return (
        "The Realtime service accepted the call but never sent session.created within "
        f"{timeout_s:g} s; press Start again."
    )


def browser_silent(silence_s: float) -> str:
    return (
        f"The browser sent no audio for {silence_s:g} s, so the call was ended; press Start "
        "to talk again."
    )


def over_spend_cap(spent_usd: float, cap_usd: float) -> str:
    return (
        f"This call reached an estimated ${spent_usd:.4f}, over its ${cap_usd:.4f} spend cap, "
        "so it was ended; raise the cap in the sidebar and press Start to go on."
    )


def answer_stalled(stall_s: float) -> str:
    return (
        f"The model's answer stalled (nothing arrived for {stall_s:g} s), so it was "
        "stopped; ask again."
    )


def gave_up(attempts: int) -> str:
    return (
        f"The connection to the Realtime service was lost and {attempts} attempts to "
        "reconnect failed; press Start."
    )


#: What the browser's getUserMedia said, by the error's name: what happened, what to do.
BROWSER_MEDIA = {
    "NotAllowedError": (
        "The browser blocked the microphone. Allow it for this site (the icon at the left "
        "of the address bar, or the browser's site settings), then press Start again."
    ),
    "NotFoundError": (
        "No microphone was found. Plug one in or turn it on (or pick another under Select "
        "device), then press Start again."
    ),
    "NotReadableError": (
        "The microphone could not be started: another program may be using it. Close that "
        "program, then press Start again."
    ),
    "OverconstrainedError": (
        "The chosen microphone is not available any more; pick another under Select device."
    ),
    "SecurityError": (
        "The browser allows the microphone only on a secure page: open this app over HTTPS "
        "(or on localhost)."
    ),
}
INSECURE_PAGE = BROWSER_MEDIA["SecurityError"]

#: The microphone's track ended mid-call: the device went away, not the visitor's Stop.
MICROPHONE_LOST = (
    "The microphone stopped during the call: it was unplugged, turned off or taken by "
    "another program. Plug it in or pick another under Select device, then press Start."
)


def browser_media(raw: str) -> str:
    """A failed getUserMedia (as streamlit-webrtc shows it: "NotAllowedError: Permission
    denied") in plain words."""
    name = raw.split(":", 1)[0].strip()
    if name in BROWSER_MEDIA:
        return BROWSER_MEDIA[name]
    if "mediaDevices is undefined" in raw or "not loaded securely" in raw:
        return INSECURE_PAGE
    return f"The browser could not open the microphone ({raw[:200]}); press Start again."
