"""Plain text from an HTML body, for messages that have no text/plain part.

A thin wrapper around inscriptis (lxml's HTML parser, CSS-aware block and table layout), configured
once here. Pure; never raises on bad markup: the fallback is the markup's text without tags.
"""

from __future__ import annotations

import re

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

# "strict" lays out blocks without the indentation the browser-like profile gives to <div>s.
_CONFIG = ParserConfig(css=CSS_PROFILES["strict"])
_TRAILING_SPACES = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAGS = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """The readable text of `html`, one line per block element, table cells side by side.

    >>> html_to_text("<html><style>p {}</style><p>Hello&nbsp;there</p><p>Line<br>break</p></html>")
    'Hello there\\n\\nLine\\nbreak'
    """
    try:
        text = get_text(html, _CONFIG)
    except Exception:  # lxml rejects a few inputs outright; keep the words rather than nothing.
        text = _TAGS.sub(" ", html)
    text = _TRAILING_SPACES.sub("\n", text.replace("\u00a0", " "))
    return _BLANK_LINES.sub("\n\n", text).strip()
