"""An offline endpoint that speaks OpenAI's Realtime protocol over WebRTC."""

from voicelab.local.faults import Faults
from voicelab.local.server import LocalServer, LocalServerThread, ServerOptions

__all__ = ["Faults", "LocalServer", "LocalServerThread", "ServerOptions"]
