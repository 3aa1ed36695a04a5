"""Audio as WebRTC carries it: the frame format and its clock (``frames``), resampling
(``resampling``), levels (``levels``), the two kinds of outgoing track (``relay_track``
forwards frames from another thread; ``pcm_track`` plays a buffer at real time), and the
one patch the core makes to aiortc (``patches``)."""
