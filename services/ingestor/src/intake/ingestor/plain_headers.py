"""The parsing fast path's header readers: header values as `policy.default` reads them, or `NotPlain`.

Pure. The fast path parses with the cheap `compat32` policy, which gives each header field as written.
For the forms most mail uses, reading them is simple and is done here exactly as `policy.default`
does it: RFC 2047 encoded words that are whole words in a charset every Python has, mailboxes written
`Name <local@domain>`, `"Quoted Name" <local@domain>` or `=?utf-8?…?= <local@domain>`, and RFC 2231
parameters in UTF-8, US-ASCII or Latin-1 (one encoded word is read by `intake.shared.encoded_words`).
Anything else raises `NotPlain`, and the caller parses the message again with `policy.default`
(tests compare both paths over the corpus and generated mail).
"""

from __future__ import annotations

import re

from intake.shared.encoded_words import CHARSETS, NotPlain, encoded_word

_WHITESPACE = re.compile(r"([ \t]+)")


def unstructured(value: str) -> str:
    """An unstructured field's value (Subject, X-Autorespond, …) with its encoded words decoded; the
    white space between two encoded words goes (RFC 2047 §6.2), all other white space stays.

    >>> unstructured("Re: =?utf-8?b?R3LDvMOfZQ==?= =?utf-8?q?_aus_K=C3=B6ln?= [#7]")
    'Re: Grüße aus Köln [#7]'
    """
    if "=?" not in value:
        return value
    pieces: list[str] = []
    previous_encoded = False
    pending_space = ""
    for token in _WHITESPACE.split(value):
        if not token:
            continue
        if token[0] in " \t":
            pending_space = token
            continue
        text = encoded_word(token)
        if text is not None and previous_encoded:
            pending_space = ""
        pieces.append(pending_space + (token if text is None else text))
        pending_space = ""
        previous_encoded = text is not None
    return "".join(pieces) + pending_space


# One mailbox as most mail writes it: `Display Name <local@domain>`, `"Quoted, Name" <local@domain>`,
# `=?utf-8?…?= <local@domain>` or `local@domain`.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_ADDRESS = rf"{_ATOM}@[A-Za-z0-9.-]+"  # no quoted local part, no domain literal
_MAILBOX = re.compile(
    rf"(?:(?:(?P<atoms>{_ATOM}(?: {_ATOM})*)|\"(?P<quoted>[^\"\\\r\n]*)\")? ?"
    rf"<(?P<angle>{_ADDRESS})>|(?P<bare>{_ADDRESS}))"
)
# A comma outside double quotes.
_LIST_COMMA = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')


def mailboxes(value: str) -> list[tuple[str, str]]:
    """(address, display name) of each mailbox in an address field's value.

    >>> mailboxes('"Meyer, Anna" <anna@example.com>, =?utf-8?q?J=C3=BCrgen?= <j@example.de>, b@example.org')
    [('anna@example.com', 'Meyer, Anna'), ('j@example.de', 'Jürgen'), ('b@example.org', '')]
    """
    if "\\" in value or "(" in value:
        raise NotPlain(value)  # quoted pairs and comments: the full parser's job
    found = []
    for element in _LIST_COMMA.split(value):
        mailbox = _MAILBOX.fullmatch(element.strip())
        if mailbox is None:
            raise NotPlain(element)
        name = mailbox["atoms"]
        if name is not None and "=?" in name:
            decoded = encoded_word(name)  # one whole encoded word; several, or mixed with atoms, are not plain
            if decoded is None:
                raise NotPlain(name)
            name = decoded
        elif mailbox["quoted"] is not None:
            name = mailbox["quoted"]
            if "=?" in name:
                raise NotPlain(name)
        found.append((mailbox["angle"] or mailbox["bare"], name or ""))
    return found


# A Content-Type or Content-Disposition both policies read alike: tokens, `name=token` or
# `name="quoted"` parameters without folding or escapes inside the quotes, and `name*=charset''value`
# (RFC 2231, one piece, in a charset of `CHARSETS`).
_MIME_WORD = r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+"
_PLAIN_MIME_HEADER = re.compile(
    rf"{_MIME_WORD}(?:/{_MIME_WORD})?(?:\s*;\s*{_MIME_WORD}=(?:{_MIME_WORD}|\"[^\"\\\r\n]*\"))*\s*;?\s*"
)
_PARAMETER = re.compile(rf";\s*({_MIME_WORD})=({_MIME_WORD}|\"[^\"]*\")")
_RFC2231_VALUE = re.compile(r"([A-Za-z0-9-]+)'[A-Za-z-]*'[A-Za-z0-9%!#$&+.^_`{|}~-]*")


def is_plain_mime_header(value: str) -> bool:
    """Whether both policies read this Content-Type or Content-Disposition value alike.

    >>> is_plain_mime_header("attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf")
    True
    >>> is_plain_mime_header("attachment; filename*=x-unknown''a.pdf"), is_plain_mime_header("a; b*0*=x")
    (False, False)
    """
    value = value.strip()
    if not value.isascii() or not _PLAIN_MIME_HEADER.fullmatch(value):
        return False
    for name, parameter in _PARAMETER.findall(value):
        if "*" not in name:
            continue
        written = _RFC2231_VALUE.fullmatch(parameter)
        if not name.endswith("*") or "*" in name[:-1] or written is None:
            return False
        if written.group(1).lower() not in CHARSETS:
            return False
    return True
