"""Text from the model, the user or a server, shown as written."""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def plain(text: str) -> str:
    """No links, images, colours or LaTeX, whatever the model says (a markdown image would
    make the viewer's browser fetch a URL)."""
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))
