"""Every patch this app makes to Streamlit and streamlit-webrtc, in one place, each against
the pinned version it was written for (a test fails when an upgrade moves what it touches).
``install`` runs at start-up, at the top of every run of ``main.py`` (it is idempotent); the
other two are used where the call widget is built.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit import config as st_config
from streamlit_webrtc.shutdown import SessionShutdownObserver

from voicelab.media import patches as media_patches


def install() -> None:
    """The call's audio runs in this process. Streamlit's full ``gc.collect()`` after every
    script run, each fragment rerun included, held the GIL for over half of every second
    while the live panels polled: the browser got 8-40 of its 50 voice packets a second and
    the microphone queue overflowed. Python's own generational collector still runs. Then
    the call across pages (below), and the core's own patch (aiortc's audio level)."""
    if st.get_option("runner.postScriptGC"):
        st_config.set_option("runner.postScriptGC", False)
    keep_calls_across_pages()
    media_patches.install()


def _no_page_hash(app_session: Any) -> str:
    return ""


def keep_calls_across_pages() -> None:
    """streamlit-webrtc 0.79 ends a stream when the visitor moves to another page: every
    ``SessionShutdownObserver`` it makes (the worker's, each sink's and source's) compares
    the page it was created on with the session's current page and stops its resource when
    they differ. This app draws the call widget from ``main.py`` above every page, so a page
    change is never a reason to end the call: with no initial page hash the navigation check
    is off and the observers fire only when the session ends."""
    SessionShutdownObserver._resolve_initial_page_script_hash = staticmethod(_no_page_hash)


#: Runs its callback when the Streamlit session ends (after ``install``, only then).
SessionEndObserver = SessionShutdownObserver


def disarm_orphan_check(context: Any) -> None:
    """Before ``webrtc_streamer`` draws again (``context`` is its last one, if any):
    streamlit-webrtc 0.79's orphan check misreads the quick reruns of signalling as
    navigation and stops the worker it just connected (about one Start in ten delivered no
    audio). The widget is drawn on every run of every page, so the check has nothing to
    find: it is switched off by clearing the private attribute it reads."""
    if context is not None and hasattr(context, "_last_rendered_run_count"):
        context._last_rendered_run_count = None


#: The widget's frame, and inside it the placeholder streamlit-webrtc 0.79 draws where a
#: video would go (its "VideoLabel" icon, a screen): meaningless for a voice call.
WEBRTC_FRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
VIDEO_PLACEHOLDER = 'div:has(> .MuiPaper-root > svg[data-testid="VideoLabelIcon"])'
_HIDE_PLACEHOLDER = """
<script>
// The placeholder, and the raw getUserMedia error: the state line says it in plain words.
const css = `%s, .MuiAlert-colorError { display: none !important; }`;
function hide() {
  for (const frame of window.parent.document.querySelectorAll('%s')) {
    const doc = frame.contentDocument;
    if (!doc || !doc.head || doc.getElementById('voicelab-style')) continue;
    const style = doc.createElement('style');
    style.id = 'voicelab-style';
    style.textContent = css;
    doc.head.appendChild(style);
  }
}
hide();
setInterval(hide, 500);
</script>
"""


def hide_video_placeholder() -> None:
    """streamlit-webrtc has no option for an audio-only look, so a style is put into its
    frame (same origin as the page) from a zero-height component drawn beside it."""
    st.iframe(_HIDE_PLACEHOLDER % (VIDEO_PLACEHOLDER, WEBRTC_FRAME), height=1)
