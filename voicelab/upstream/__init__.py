"""The upstream leg: one Realtime connection behind the ``Transport`` interface
(``transport.py``), with WebRTC as its implementation (``webrtc.py`` over ``signaling.py``).
The call above it never knows which transport it has."""
