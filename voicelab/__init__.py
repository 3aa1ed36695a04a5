"""Voice Lab: talk to realtime speech-to-speech models and tune their session live."""

__version__ = "0.1.0"
