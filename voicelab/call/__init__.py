"""One visitor's call, split by idea:

* ``bridge`` — the thread-safe façade the page talks to: intents in, snapshots out;
  ``intents`` — what the page asks of the live call, carried out on the call's loop;
  ``readings`` — what the page, the host's ledger and the diagnostics read of it;
  ``limits`` — a host's limits of one call, and its progress as the ledger reads it;
* ``upstream_call`` — the call's behaviour: intents become client events, every event goes
  to the observers, barge-in and reconnect carry-over happen here; ``call_life`` — its
  life on the loop: connect, watch (the watchdog, a stalled answer), hang up;
* ``call_thread`` — the call's own asyncio loop in its own thread;
* ``metering`` — what is measured of a call (levels, timeline, latency, usage, activity);
* ``recorder`` — the call stored in the history as it happens; ``figures`` — its figures;
* ``replay`` — a stored call's microphone through a new call, no browser;
* ``recovery`` — when a lost upstream is called again, and when the bridge gives up;
* ``renewal`` — the hour cap: the next call opened ahead, switched to in a pause;
* ``carry_over``, ``watchdog``, ``problems``, ``snapshot`` — the small pieces they share.
"""

from voicelab.call.bridge import Bridge
from voicelab.call.intents import BridgeError
from voicelab.call.snapshot import CONNECTED, CONNECTING, ERROR, IDLE, Meters, Snapshot
from voicelab.upstream.transport import Target

__all__ = [
    "CONNECTED",
    "CONNECTING",
    "ERROR",
    "IDLE",
    "Bridge",
    "BridgeError",
    "Meters",
    "Snapshot",
    "Target",
]
