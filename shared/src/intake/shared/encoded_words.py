"""One RFC 2047 encoded word read without the stdlib's header machinery, or `NotPlain` (pure).

The fetcher's header summary and the ingestor's parsing fast path both read the encoded words most
mail uses (a whole whitespace-separated word, in a charset every Python has) themselves; anything
else raises `NotPlain` and each caller falls back to the stdlib reader it must agree with. How the
words of a value are joined differs between `email.header` and `policy.default`: that stays with
each caller.
"""

from __future__ import annotations

import base64
import binascii
import re

# Charsets whose Python codec every build has and both policies decode alike.
CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "ascii",
    "iso-8859-1": "latin-1",
    "iso-8859-15": "iso8859_15",
    "windows-1252": "cp1252",
}
# One RFC 2047 encoded word (charset without an RFC 2231 language), as a whole whitespace-separated token.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)\?([bBqQ])\?([^?\s]*)\?=")
_Q_ESCAPE = re.compile(r"=(?![0-9A-Fa-f]{2})")
_Q_BYTE = re.compile(rb"=([0-9A-Fa-f]{2})")


class NotPlain(Exception):
    """The value is written in a form only the stdlib's full reader reads right."""


def encoded_word(token: str) -> str | None:
    """The text of `token` when it is one whole encoded word, else None; `NotPlain` when it is one
    that the stdlib could read differently (unknown charset, bad base64, a stray `=`).

    >>> encoded_word("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus?="), encoded_word("=?ISO-8859-1?B?S/Zsbg==?=")
    ('Grüße aus', 'Köln')
    >>> encoded_word("plain") is None
    True
    """
    found = _ENCODED_WORD.fullmatch(token)
    if found is None:
        if "=?" in token:
            raise NotPlain(token)
        return None
    charset, encoding, text = found.groups()
    codec = CHARSETS.get(charset.lower())
    if codec is None:
        raise NotPlain(charset)
    if encoding in "qQ":
        if _Q_ESCAPE.search(text):
            raise NotPlain(token)
        data = _Q_BYTE.sub(lambda byte: bytes.fromhex(byte.group(1).decode()), text.replace("_", " ").encode())
    else:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise NotPlain(token) from None
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise NotPlain(token) from None
