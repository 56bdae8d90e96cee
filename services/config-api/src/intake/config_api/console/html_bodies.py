"""A message's HTML body made safe to look at: sanitised with nh3 (the Ammonia sanitiser), for a sandboxed
`<iframe srcdoc>` on the issue page, never for the console's own document.

Pure. Scripts, event handlers, forms, styles and embedded objects are removed by Ammonia's allow-list;
images are kept only as `data:` URLs, so opening an issue never fetches anything from another host (remote
images are how senders track readers). Links stay but cannot navigate: the iframe's sandbox has no
permissions at all. A body too large to show is refused with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import nh3

# Sanitised HTML larger than this is not put into the page (it would weigh on every view of the issue).
MAX_SHOWN_BYTES = 200 * 1024
# Read at most this much of a stored body: sanitising is linear, but a 20 MB body is not worth it.
MAX_READ_BYTES = 2 * 1024 * 1024
# Ammonia's default tags without the two that reference things by URL other than links.
TAGS = nh3.ALLOWED_TAGS - {"area", "map"}
URL_SCHEMES = {"http", "https", "mailto", "data"}


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.strip().lower().startswith("data:image/"):
        return None  # a remote image: a request to the sender's server, i.e. a read receipt
    return value


@dataclass(frozen=True)
class HtmlView:
    """What to show of an HTML body: the sanitised document, or why there is none."""

    document: str | None
    note: str | None = None


def html_view(body_html: str | None) -> HtmlView | None:
    """The sanitised HTML of a body, or a note why it is not shown; None when the message has no HTML body.

    >>> html_view('<p onclick="x()">Hi <script>alert(1)</script><img src="https://t.example/p.gif"></p>')
    HtmlView(document='<p>Hi <img></p>', note=None)
    >>> html_view("x" * (MAX_READ_BYTES + 1)).note
    'The HTML version is larger than 2 MiB; read the text above or download the raw message.'
    """
    if not body_html or not body_html.strip():
        return None
    if len(body_html) > MAX_READ_BYTES:
        return HtmlView(None, "The HTML version is larger than 2 MiB; read the text above or download the raw message.")
    cleaned = nh3.clean(
        body_html,
        tags=TAGS,
        url_schemes=URL_SCHEMES,
        attribute_filter=_keep_attribute,
        link_rel="noopener noreferrer nofollow",
    )
    if len(cleaned.encode()) > MAX_SHOWN_BYTES:
        note = "The HTML version is too large to show here; read the text above or download the raw message."
        return HtmlView(None, note)
    return HtmlView(cleaned)
