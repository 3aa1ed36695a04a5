"""Every call, kept as it happens: settings, turns, events, figures and (optionally) audio.

* ``records`` — the write ops and the read results, plain values
* ``tables`` — the schema (three tables) and the portable SQL helpers
* ``store`` — ``HistoryStore``: those tables through SQLAlchemy (SQLite by default) and audio files
* ``writer`` — ``HistoryWriter``: the thread that stores a live call without ever blocking it
* ``audio_file`` — both directions of a call's audio in one stereo file that survives a kill
* ``export`` — one stored call as a zip
"""

from voicelab.history.audio_file import RATE, StereoPcmFile, wav_from_pcm
from voicelab.history.export import export_zip, transcript_markdown
from voicelab.history.records import (
    CallEnded,
    CallStarted,
    CallSummary,
    EventLogged,
    FiguresChanged,
    Op,
    SettingsChanged,
    StoredCall,
    StoredEvent,
    TurnChanged,
)
from voicelab.history.store import HistoryStore, safe_name
from voicelab.history.writer import HistoryWriter

__all__ = [
    "RATE",
    "CallEnded",
    "CallStarted",
    "CallSummary",
    "EventLogged",
    "FiguresChanged",
    "HistoryStore",
    "HistoryWriter",
    "Op",
    "SettingsChanged",
    "StereoPcmFile",
    "StoredCall",
    "StoredEvent",
    "TurnChanged",
    "export_zip",
    "safe_name",
    "transcript_markdown",
    "wav_from_pcm",
]
