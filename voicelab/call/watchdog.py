"""When a call that is up must end by itself: the upstream connection died, the browser
stopped sending audio (a closed tab is noticed this way long before ICE consent expires), or
the host's time limit ran out.
Pure logic over timestamps; the call asks it twice a second."""

from __future__ import annotations

import time

from voicelab.call import problems


class Watchdog:
    def __init__(self, browser_silence_s: float) -> None:
        self.browser_silence_s = browser_silence_s
        #: monotonic time of the last real frame from the browser (set from Streamlit's loop)
        self.last_browser_frame: float | None = None
        self._since: float | None = None  # when watching began
        #: A host's time limit: (monotonic time, the sentence the call ends with).
        self.deadline: tuple[float, str] | None = None

    def browser_frame(self) -> None:
        self.last_browser_frame = time.monotonic()

    def start(self) -> None:
        """At ``session.created``: from now on, even a browser leg that never sends a frame
        ends the call once the silence is long enough."""
        self._since = time.monotonic()

    def problem(self, ice_state: str, now: float) -> str | None:
        """Why the call must end now, or None."""
        if ice_state in ("failed", "closed"):
            return problems.CONNECTION_LOST
        if self.deadline is not None and now >= self.deadline[0]:
            return self.deadline[1]
        heard = [t for t in (self.last_browser_frame, self._since) if t is not None]
        if heard and now - max(heard) > self.browser_silence_s:
            return problems.browser_silent(self.browser_silence_s)
        return None
