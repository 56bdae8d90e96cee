"""The few header values the `message.fetched` event carries: Message-ID, From, Subject (pure, never raises).

Only the header block is parsed, with `compat32` (DESIGN §2: ~4x cheaper than `policy.default` and
it does not raise on hostile headers); RFC 2047 words are decoded best-effort. Full parsing is the
ingestor's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32

# Headers longer than this are cut: the event is a summary, not the message.
MAX_VALUE_CHARS = 998
_HEADER_END = (b"\r\n\r\n", b"\n\n")


@dataclass(frozen=True)
class HeaderSummary:
    message_id: str | None
    sender: str | None
    subject: str | None


def header_block(raw: bytes | bytearray) -> bytes:
    """The bytes up to and including the blank line that ends the header (all of `raw` without one).

    >>> header_block(b"Subject: x\\r\\n\\r\\nbody")
    b'Subject: x\\r\\n\\r\\n'
    """
    ends = [raw.find(marker) + len(marker) for marker in _HEADER_END if marker in raw]
    return bytes(raw[: min(ends)] if ends else raw)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words best-effort; on any failure return the text as it was.

    >>> decode_words("=?utf-8?q?Caf=C3=A9?= order")
    'Café order'
    """
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # hostile input: unknown charsets, broken base64, ... (never raise here)
        return value
    # Broken base64 decodes to nothing at all; the raw text says more than an empty string.
    return decoded if decoded.strip() else value


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = value
    # compat32 keeps raw 8-bit header bytes as surrogate escapes, which JSON cannot carry: read
    # them as UTF-8 (the common case for unencoded headers), replacing what is not.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = " ".join(text.split())  # unfold continuation lines
    return text[:MAX_VALUE_CHARS] or None


def summarize(raw: bytes | bytearray) -> HeaderSummary:
    """Message-ID, From and Subject of `raw`; None for a header that is missing or unreadable."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
        # raw_items: the values as parsed, without compat32 turning 8-bit text into Header objects.
        first: dict[str, str] = {}
        for name, value in headers.raw_items():
            first.setdefault(name.lower(), value)
        message_id = _clean(first.get("message-id"))
        sender = _clean(first.get("from"))
        subject = _clean(first.get("subject"))
    except Exception:  # compat32 is lenient, but a summary must never stop a fetch
        return HeaderSummary(None, None, None)
    return HeaderSummary(
        message_id=message_id,
        sender=_clean(decode_words(sender)) if sender else None,
        subject=_clean(decode_words(subject)) if subject else None,
    )
