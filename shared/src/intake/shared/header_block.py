"""A raw message's header block and its RFC 2047 words decoded best-effort: one reading for every service (pure).

The fetcher's summary, config-api's email-log detail view and the ingestor's fallback reader all
need the header block of mail from strangers and the text of its encoded words; each reads them
here, so a message's header is cut at the same place and a broken encoded word shown the same way
everywhere. Nothing here raises on hostile input.
"""

from __future__ import annotations

from email.header import decode_header, make_header


def header_end(raw: bytes | bytearray) -> tuple[int, int] | None:
    """Where the header's last line (with its line break) ends and where the blank line after it ends,
    at the first blank line as the stdlib's feed parser finds it: a line break, then an empty line
    ended by CRLF or LF; None without one.

    >>> header_end(b"A: 1\\r\\n\\r\\nbody"), header_end(b"A: 1\\n\\nbody"), header_end(b"A: 1\\n\\r\\nB: 2\\n\\n")
    ((6, 8), (5, 6), (5, 7))
    >>> header_end(b"A: 1")
    """
    # "\r\n\r\n" holds "\n\r\n": both CRLF and a LF line before a CRLF blank line are found by it.
    crlf = raw.find(b"\n\r\n")
    # Only a "\n\n" before it can come first.
    lf = raw.find(b"\n\n", 0, crlf) if crlf >= 0 else raw.find(b"\n\n")
    if lf >= 0:
        return lf + 1, lf + 2
    if crlf >= 0:
        return crlf + 1, crlf + 3
    return None


def header_block(raw: bytes | bytearray) -> bytes:
    """The bytes up to and including the blank line that ends the header (all of `raw` without one).

    >>> header_block(b"Subject: x\\r\\n\\r\\nbody")
    b'Subject: x\\r\\n\\r\\n'
    """
    end = header_end(raw)
    return bytes(raw if end is None else raw[: end[1]])


def header_lines(raw: bytes | bytearray) -> bytes:
    """The header's lines without the line break of the last one and without the blank line (all of
    `raw` when there is no blank line).

    >>> header_lines(b"Subject: hi\\r\\n\\r\\nbody"), header_lines(b"Subject: hi\\n\\nbody")
    (b'Subject: hi', b'Subject: hi')
    """
    end = header_end(raw)
    if end is None:
        return bytes(raw)
    last = end[0] - 1  # the last line's "\n"
    return bytes(raw[: last - 1 if last > 0 and raw[last - 1] == 0x0D else last])


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words as `email.header` does; on any failure, or when that gives blank
    text (broken base64 decodes to nothing), the text as it was.

    >>> decode_words("=?utf-8?q?Caf=C3=A9?= order"), decode_words("=?x-unknown?q?abc?=")
    ('Café order', '=?x-unknown?q?abc?=')
    >>> decode_words("=?utf-8?b?===?=")
    '=?utf-8?b?===?='
    """
    if "=?" not in value:
        return value
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # hostile input: unknown charsets, broken base64, ... (never raise here)
        return value
    return decoded if decoded.strip() else value
