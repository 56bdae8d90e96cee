"""The header fields of a stored raw message, for the email log's detail view.

Pure. Mail comes from strangers: only the header section is read, up to a size and a field count,
values are unfolded and their RFC 2047 encoded words decoded where possible; nothing here raises.
"""

from __future__ import annotations

import email.errors
import email.header
import re
from dataclasses import dataclass

MAX_HEADER_BYTES = 256 * 1024
MAX_FIELDS = 500

_END_OF_HEADER = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")  # RFC 5322 §3.6.8: printable ASCII except ":"


@dataclass(frozen=True)
class HeaderField:
    name: str
    value: str


def header_section(raw: bytes) -> bytes:
    """The bytes before the first empty line (all of `raw` when there is none), at most MAX_HEADER_BYTES.

    >>> header_section(b"Subject: hi\\r\\n\\r\\nbody")
    b'Subject: hi'
    """
    head = raw[:MAX_HEADER_BYTES]
    end = _END_OF_HEADER.search(head)
    return head[: end.start()] if end else head


def decoded(value: str) -> str:
    """`value` with its RFC 2047 encoded words decoded; unchanged when they cannot be decoded.

    >>> decoded("=?utf-8?q?Caf=C3=A9?= ouvert"), decoded("=?x-unknown?q?abc?=")
    ('Café ouvert', '=?x-unknown?q?abc?=')
    """
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return value


def header_fields(raw: bytes) -> list[HeaderField]:
    """The header fields of `raw` in order, unfolded and decoded (UTF-8 per RFC 6532, invalid bytes replaced).

    A line that is not a field (no colon, or a bad name) is skipped; at most MAX_FIELDS fields.

    >>> header_fields(b"From: a@b.example\\r\\nSubject: two\\r\\n  lines\\r\\nbroken line\\r\\n\\r\\nX-Not: body")
    [HeaderField(name='From', value='a@b.example'), HeaderField(name='Subject', value='two  lines')]
    """
    text = header_section(raw).decode("utf-8", "replace")
    fields: list[HeaderField] = []
    for line in _FOLD.sub("", text).splitlines():
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.match(name.rstrip()):
            continue
        fields.append(HeaderField(name.rstrip(), decoded(value.strip())))
        if len(fields) == MAX_FIELDS:
            break
    return fields
