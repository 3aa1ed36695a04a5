"""Observers of one call's event stream. Each owns one question about the call and is fed
every event, both ways, by the call (``stream.EventStream``):

* ``responses`` — is a response running?
* ``session_state`` — which session is in force?
* ``transcript`` — what was said, in order?
* ``event_log`` — exactly what went over the wire?
* ``playback`` — how much of the answer has the user heard? (barge-in)
* ``live_settings`` — what did the user ask to change, and did the server take it?

They do no I/O and never block. A new view of the call is a new module here and one line
in ``voicelab.call.upstream_call.UpstreamCall._observers``.
"""
