"""Plain text from an HTML body, for messages that have no text/plain part.

A small tag stripper on the stdlib `html.parser`: drops script/style/head, turns block elements and
`<br>` into line breaks, decodes entities. Pure; never raises on bad markup.
"""

from __future__ import annotations

import contextlib
import re
from html.parser import HTMLParser

_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript"})
# Elements that stand apart as paragraphs (a blank line around them) or start a line of their own.
_PARAGRAPHS = frozenset({"blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table", "ul"})
_LINES = frozenset(
    {
        "address", "article", "aside", "dd", "div", "dl", "dt", "fieldset", "figure", "footer", "form",
        "header", "li", "main", "nav", "section", "tr",
    }
)  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0
        # Line breaks at the end of what was collected; text resets it.
        self._trailing_breaks = 0

    def _break(self, breaks: int) -> None:
        """End the current line (1) or paragraph (2), without piling up breaks between elements."""
        if breaks > self._trailing_breaks:
            self.chunks.append("\n" * (breaks - self._trailing_breaks))
            self._trailing_breaks = breaks

    def _block(self, tag: str) -> None:
        if tag in _PARAGRAPHS:
            self._break(2)
        elif tag in _LINES:
            self._break(1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self.chunks.append("\n")
            self._trailing_breaks += 1
        elif tag in ("td", "th"):
            self.chunks.append(" ")
        else:
            self._block(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIPPED:
            self._skipping -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        else:
            self._block(tag)

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        # Source line breaks are layout in HTML, not text: only tags make lines.
        text = data.replace("\r", " ").replace("\n", " ")
        self.chunks.append(text)
        if text.strip():
            self._trailing_breaks = 0


def html_to_text(html: str) -> str:
    """The readable text of `html`, one line per block element.

    >>> html_to_text("<html><style>p {}</style><p>Hello&nbsp;there</p><p>Line<br>break</p></html>")
    'Hello there\\n\\nLine\\nbreak'
    """
    collector = _TextCollector()
    # html.parser can raise on malformed declarations; the text collected so far is still good.
    with contextlib.suppress(Exception):
        collector.feed(html)
        collector.close()
    text = "".join(collector.chunks)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
