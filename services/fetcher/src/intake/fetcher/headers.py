"""The few header values the `message.fetched` event carries: Message-ID, From, Subject (pure, never raises).

The header block is read as `compat32` reads it (DESIGN §2: ~4x cheaper than `policy.default` and it
does not raise on hostile headers) and RFC 2047 words are decoded best-effort as `email.header`
decodes them. Most mail is read here directly, giving exactly what the stdlib gives; anything unusual
goes through the stdlib itself (`feed_parser_summary`, `decode_words`). Full parsing is the ingestor's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.charset import Charset
from email.parser import BytesHeaderParser
from email.policy import compat32

from intake.shared.encoded_words import CHARSETS, NotPlain, encoded_word
from intake.shared.header_block import decode_words, header_block, header_end

# Headers longer than this are cut: the event is a summary, not the message.
MAX_VALUE_CHARS = 998
# Every line a field (a name of printable ASCII but `:`, then `:`) or a continuation: then the feed
# parser reads the lines as written, with no defect and no special case (`From ` lines, `:x`, ...).
_FIELD_LINES = re.compile(r"(?:[\041-\071\073-\176]+:.*\n(?:[ \t].*\n)*)+")
_BARE_CR = re.compile(r"\r(?!\n)")  # the feed parser ends a line there too
# The three fields, each after a line break (the block is searched with one put before it); the value
# leaves its last line break to start the next field.
_SUMMARY_FIELD = re.compile(r"\n(message-id|from|subject):(.*(?:\n[ \t].*)*)", re.IGNORECASE | re.ASCII)
# How `email.header.make_header` tells the charsets of `CHARSETS` apart: by `Charset` equality, under
# which an unencoded chunk and `us-ascii` are alike (None here).
_CHARSET_KINDS = {name: None if Charset(name) == "us-ascii" else str(Charset(name)) for name in CHARSETS}


@dataclass(frozen=True)
class HeaderSummary:
    message_id: str | None
    sender: str | None
    subject: str | None


def summarize(raw: bytes | bytearray) -> HeaderSummary:
    """Message-ID, From and Subject of `raw`; None for a header that is missing or unreadable."""
    return plain_summary(raw) or feed_parser_summary(raw)


def plain_summary(raw: bytes | bytearray) -> HeaderSummary | None:
    """`feed_parser_summary(raw)`, read directly; None when the header block is not plain: no blank line
    after it, a bare CR, a line that is neither a field nor a continuation."""
    head = _header_lines(raw)
    if head is None or _BARE_CR.search(head) or not _FIELD_LINES.fullmatch(head):
        return None
    first: dict[str, str] = {}
    for field in _SUMMARY_FIELD.finditer("\n" + head):
        # compat32's header_source_parse: blanks after the colon go, so does the final line break.
        first.setdefault(field.group(1).lower(), field.group(2).lstrip(" \t").rstrip("\r\n"))
    return HeaderSummary(
        message_id=_clean(first.get("message-id")),
        sender=_decoded(_clean(first.get("from"))),
        subject=_decoded(_clean(first.get("subject"))),
    )


def _header_lines(raw: bytes | bytearray) -> str | None:
    """The lines before the blank line that ends the header, with their line breaks; None without one."""
    end = header_end(raw)
    return None if end is None else raw[: end[0]].decode("ascii", "surrogateescape")


def feed_parser_summary(raw: bytes | bytearray) -> HeaderSummary:
    """The summary as the stdlib reads it: the feed parser with `compat32`, `email.header` for words."""
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


def decode_plain_words(value: str) -> str:
    """`decode_words(value)` for a value `_clean` gave (words between single spaces), read directly;
    `NotPlain` unless each word with `=?` is a whole encoded word `encoded_word` reads.

    Joined as `email.header` joins them (not as `policy.default` does): the space between two encoded
    words goes, words of one charset run on, and `make_header`'s chunks are spaced by its own rules
    (`_joined_as_header`).

    >>> decode_plain_words("Re: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_order?= [#7]")
    'Re: Café order [#7]'
    """
    if "=?" not in value:
        return value
    if not value.isascii():
        # email.header reads unencoded text beside encoded words as 'raw-unicode-escape' bytes.
        raise NotPlain(value)
    words: list[tuple[str, str | None]] = []  # (text, lower-case charset; None: unencoded)
    unencoded: list[str] = []
    for token in value.split(" "):
        text = encoded_word(token)
        if text is None:
            unencoded.append(token)
            continue
        if unencoded:
            words.append(((" " if words else "") + " ".join(unencoded) + " ", None))
            unencoded = []
        charset = token[2 : token.index("?", 2)].lower()
        if words and words[-1][1] == charset:  # decode_header runs words of one charset together
            words[-1] = (words[-1][0] + text, charset)
        else:
            words.append((text, charset))
    if unencoded:
        words.append((" " + " ".join(unencoded), None))
    return _joined_as_header(words) or value


def _joined_as_header(words: list[tuple[str, str | None]]) -> str:
    """`str(make_header(...))` of decoded words, or "" when that is blank (`decode_words` keeps the value)."""
    chunks: list[tuple[str, str | None]] = []  # Header._normalize: chunks of equal charsets join with a space
    for text, charset in words:
        kind = None if charset is None else _CHARSET_KINDS[charset]
        if chunks and chunks[-1][1] == kind:
            chunks[-1] = (chunks[-1][0] + " " + text, kind)
        else:
            chunks.append((text, kind))
    pieces: list[str] = []
    last_kind: str | None = None
    last_space = False
    for text, kind in chunks:  # Header.__str__: a space where encoded and unencoded text touch
        if pieces:
            if last_kind is not None:
                if kind is None and not (text and _not_ctext(text[0])):
                    pieces.append(" ")
            elif kind is not None and not last_space:
                pieces.append(" ")
        last_space = bool(text) and _not_ctext(text[-1])
        last_kind = kind
        pieces.append(text)
    joined = "".join(pieces)
    return joined if joined.strip() else ""


def _not_ctext(char: str) -> bool:
    return char.isspace() or char in "()\\"


def _decoded(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return _clean(decode_plain_words(value))
    except NotPlain:
        return _clean(decode_words(value))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = value
    # compat32 keeps raw 8-bit header bytes as surrogate escapes, which JSON cannot carry: read
    # them as UTF-8 (the common case for unencoded headers), replacing what is not.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = " ".join(text.split())  # unfold continuation lines
    return text[:MAX_VALUE_CHARS] or None
