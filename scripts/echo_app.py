"""A bare streamlit-webrtc echo page: the baseline ``bench_page.py`` compares the Talk page
with (what the browser spends on a call and nothing else)."""

from streamlit_webrtc import WebRtcMode, webrtc_streamer

webrtc_streamer(
    key="echo",
    mode=WebRtcMode.SENDRECV,
    rtc_configuration={"iceServers": []},
    media_stream_constraints={"audio": True, "video": False},
)
