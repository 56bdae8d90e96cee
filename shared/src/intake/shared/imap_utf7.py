"""Mailbox names in IMAP modified UTF-7 (RFC 3501 §5.1.3): encode for commands, decode from responses (pure).

Printable US-ASCII stands for itself except `&`, written `&-`; every other run of characters is
UTF-16BE in base64 with `,` for `/`, no padding, between `&` and `-`. Nothing else is accepted
when decoding: a malformed name raises ValueError rather than naming some other folder.
"""

from __future__ import annotations

import base64
import binascii


def _is_direct(char: str) -> bool:
    return 0x20 <= ord(char) <= 0x7E


def _shifted(text: str) -> str:
    encoded = base64.b64encode(text.encode("utf-16-be")).decode("ascii").rstrip("=")
    return "&" + encoded.replace("/", ",") + "-"


def encode(name: str) -> str:
    """`name` in modified UTF-7.

    >>> encode("INBOX")
    'INBOX'
    >>> encode("Support & Sales")
    'Support &- Sales'
    >>> encode("Entwürfe")
    'Entw&APw-rfe'
    >>> encode("台北")
    '&U,BTFw-'
    >>> encode("Kunden/Café 😀")
    'Kunden/Caf&AOk- &2D3eAA-'
    """
    out: list[str] = []
    pending: list[str] = []
    for char in name:
        if _is_direct(char):
            if pending:
                out.append(_shifted("".join(pending)))
                pending.clear()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    if pending:
        out.append(_shifted("".join(pending)))
    return "".join(out)


def decode(encoded: str) -> str:
    """The name that `encoded` (modified UTF-7) stands for; ValueError if it is not well formed.

    >>> decode("Entw&APw-rfe")
    'Entwürfe'
    >>> decode("Support &- Sales")
    'Support & Sales'
    >>> decode("&U,BTFw-")
    '台北'
    >>> decode(encode("Kunden/Café 😀")) == "Kunden/Café 😀"
    True
    >>> decode("Entw&APw")
    Traceback (most recent call last):
    ...
    ValueError: unterminated '&' sequence at 4 in 'Entw&APw'
    """
    out: list[str] = []
    index = 0
    while index < len(encoded):
        char = encoded[index]
        if not _is_direct(char):
            raise ValueError(f"character {char!r} at {index} is not allowed in modified UTF-7")
        if char != "&":
            out.append(char)
            index += 1
            continue
        end = encoded.find("-", index + 1)
        if end < 0:
            raise ValueError(f"unterminated '&' sequence at {index} in {encoded!r}")
        chunk = encoded[index + 1 : end]
        if not chunk:
            out.append("&")
        else:
            out.append(_unshift(chunk, index, encoded))
        index = end + 1
    return "".join(out)


def _unshift(chunk: str, index: int, encoded: str) -> str:
    padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
        text = raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(f"invalid base64 sequence at {index} in {encoded!r}") from None
    # A shifted run must not hide characters that have to be written directly (RFC 3501 §5.1.3).
    if any(_is_direct(char) for char in text):
        raise ValueError(f"shifted sequence at {index} in {encoded!r} encodes printable ASCII")
    return text
