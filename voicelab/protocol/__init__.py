"""The Realtime protocol as both ends speak it: the session value, the client events the app
sends, the server events it reads, items, ids, defaults and limits.

The client (``voicelab.call``, ``voicelab.upstream``) and the offline server
(``voicelab.local``) both import this package, and it imports neither: what one side says
on the wire, the other side reads from the same definitions.
"""
