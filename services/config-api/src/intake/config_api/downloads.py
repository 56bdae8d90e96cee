"""Headers for serving a stored attachment safely: Content-Disposition (RFC 6266) and a sane Content-Type.

Pure. Attachments come from strangers' mail, so they are always served as downloads (`attachment`),
never rendered in the API's origin, and a malformed stored content type falls back to octet-stream.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

FALLBACK_FILENAME = "attachment"
OCTET_STREAM = "application/octet-stream"

# type "/" subtype from RFC 9110 §8.3.1 tokens, optionally with parameters we keep verbatim when they are tokens.
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"^{_TCHARS}/{_TCHARS}(\s*;\s*{_TCHARS}=({_TCHARS}|\"[^\"\\\r\n]*\"))*$")
# Characters that may stand in a quoted-string filename for old user agents: printable ASCII minus `"` and `\`.
_UNSAFE_ASCII = re.compile(r"[^\x20-\x7e]|[\"\\%]")


def ascii_fallback(filename: str) -> str:
    """An ASCII stand-in for `filename` for user agents that ignore `filename*`.

    >>> ascii_fallback("Résumé \\"final\\".pdf")
    'Resume _final_.pdf'
    """
    decomposed = unicodedata.normalize("NFKD", filename)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _UNSAFE_ASCII.sub("_", stripped).strip() or FALLBACK_FILENAME


def content_disposition(filename: str | None) -> str:
    """`attachment` with an ASCII `filename` and the exact name as UTF-8 `filename*` (RFC 6266 §4.3, RFC 8187).

    >>> content_disposition("naïve.txt")
    'attachment; filename="naive.txt"; filename*=UTF-8\\'\\'na%C3%AFve.txt'
    >>> content_disposition(None)
    'attachment; filename="attachment"'
    """
    # Path separators and control characters never reach the client's file system.
    name = "".join(" " if unicodedata.category(c).startswith("C") else c for c in (filename or ""))
    name = name.replace("/", "_").replace("\\", "_").strip()
    if not name:
        return f'attachment; filename="{FALLBACK_FILENAME}"'
    fallback = ascii_fallback(name)
    if fallback == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def safe_content_type(content_type: str | None) -> str:
    """`content_type` when it is a well-formed media type, else application/octet-stream.

    >>> safe_content_type("image/png"), safe_content_type("text/html\\r\\nX-Evil: 1"), safe_content_type(None)
    ('image/png', 'application/octet-stream', 'application/octet-stream')
    """
    if content_type and _MEDIA_TYPE.match(content_type.strip()):
        return content_type.strip()
    return OCTET_STREAM
