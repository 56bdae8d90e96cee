"""The header fields of a stored raw message, for the email log's detail view.

Pure. Mail comes from strangers: only the header section is read (`shared.header_block`), up to a
size and a field count, values are unfolded and their RFC 2047 encoded words decoded where possible;
nothing here raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from intake.shared.header_block import decode_words, header_lines

MAX_HEADER_BYTES = 256 * 1024
MAX_FIELDS = 500

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")  # RFC 5322 §3.6.8: printable ASCII except ":"


@dataclass(frozen=True)
class HeaderField:
    name: str
    value: str


def header_fields(raw: bytes) -> list[HeaderField]:
    """The header fields of `raw` in order, unfolded and decoded (UTF-8 per RFC 6532, invalid bytes replaced).

    A line that is not a field (no colon, or a bad name) is skipped; at most MAX_FIELDS fields.

    >>> header_fields(b"From: a@b.example\\r\\nSubject: two\\r\\n  lines\\r\\nbroken line\\r\\n\\r\\nX-Not: body")
    [HeaderField(name='From', value='a@b.example'), HeaderField(name='Subject', value='two  lines')]
    """
    text = header_lines(raw[:MAX_HEADER_BYTES]).decode("utf-8", "replace")
    fields: list[HeaderField] = []
    for line in _FOLD.sub("", text).splitlines():
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.match(name.rstrip()):
            continue
        fields.append(HeaderField(name.rstrip(), decode_words(value.strip())))
        if len(fields) == MAX_FIELDS:
            break
    return fields
