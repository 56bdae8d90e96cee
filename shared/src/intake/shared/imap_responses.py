"""Reading IMAP server responses (as aioimaplib hands them over) into values, and writing command arguments (pure).

aioimaplib gives a `Response(result, lines)`: untagged lines without the leading `* ` (and without
the command name for SEARCH), literals as `bytearray` items, and the tagged status text last.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from intake.shared import imap_utf7

Lines = Sequence[bytes | bytearray]

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.I)
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]", re.I)
_FETCH_START = re.compile(rb"^\d+ FETCH \(", re.I)
_FETCH_UID = re.compile(rb"[( ]UID (\d+)", re.I)
_FETCH_SIZE = re.compile(rb"[( ]RFC822\.SIZE (\d+)", re.I)
# RFC 3501 §9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (the day may be padded with a space).
_FETCH_INTERNALDATE = re.compile(
    rb'[( ]INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"', re.I
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"), start=1
    )
}
_BODY_LITERALS = {
    "": re.compile(rb"[( ]BODY\[\] \{(\d+)\}$", re.I),
    "HEADER": re.compile(rb"[( ]BODY\[HEADER\] \{(\d+)\}$", re.I),
}


def _untagged(lines: Lines) -> list[bytes | bytearray]:
    """Every line but the last one, which is the tagged status text."""
    return list(lines[:-1])


def _text_lines(lines: Lines) -> list[bytes]:
    return [bytes(line) for line in _untagged(lines) if not isinstance(line, bytearray)]


def parse_uidvalidity(lines: Lines) -> int | None:
    """UIDVALIDITY from a SELECT response (RFC 3501 §7.1).

    >>> parse_uidvalidity([b"2 EXISTS", b"OK [UIDVALIDITY 1795487220] UIDs valid", b"Select completed."])
    1795487220
    """
    for line in _text_lines(lines):
        if match := _UIDVALIDITY.search(line):
            return int(match.group(1))
    return None


def parse_uidnext(lines: Lines) -> int | None:
    for line in _text_lines(lines):
        if match := _UIDNEXT.search(line):
            return int(match.group(1))
    return None


def parse_search(lines: Lines) -> list[int]:
    """UIDs from a UID SEARCH response; other untagged lines are ignored.

    >>> parse_search([b"3 7 9", b"Search completed."])
    [3, 7, 9]
    >>> parse_search([b"", b"Search completed."])
    []
    """
    found: list[int] = []
    for line in _text_lines(lines):
        tokens = line.split()
        if tokens and all(token.isdigit() for token in tokens):
            found.extend(int(token) for token in tokens)
    return found


def parse_sizes(lines: Lines) -> dict[int, int]:
    """UID → RFC822.SIZE from a `UID FETCH … (UID RFC822.SIZE)` response.

    >>> parse_sizes([b"1 FETCH (UID 4 RFC822.SIZE 43)", b"2 FETCH (FLAGS (\\\\Seen))", b"Fetch completed."])
    {4: 43}
    """
    sizes: dict[int, int] = {}
    for line in _text_lines(lines):
        if not _FETCH_START.match(line):
            continue
        uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


@dataclass(frozen=True)
class Listed:
    """What a `UID FETCH … (UID RFC822.SIZE INTERNALDATE)` says of one message."""

    size: int
    internal_date: datetime | None  # None when the server sent none, or one that cannot be read


def parse_internal_date(line: bytes) -> datetime | None:
    """The INTERNALDATE in a FETCH line (RFC 3501 §2.3.3: when the message arrived), as an aware datetime.

    >>> parse_internal_date(b'1 FETCH (UID 4 INTERNALDATE " 7-Jul-2026 02:44:25 -0700")')
    datetime.datetime(2026, 7, 7, 2, 44, 25, tzinfo=datetime.timezone(datetime.timedelta(days=-1, seconds=61200)))
    >>> parse_internal_date(b'1 FETCH (UID 4 INTERNALDATE "31-Feb-2026 00:00:00 +0000")') is None
    True
    """
    match = _FETCH_INTERNALDATE.search(line)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes)) * (-1 if sign == b"-" else 1)
    number = _MONTHS.get(month.lower())
    if number is None:
        return None
    try:
        return datetime(int(year), number, int(day), int(hour), int(minute), int(second), tzinfo=timezone(offset))
    except ValueError:
        return None


def parse_listing(lines: Lines) -> dict[int, Listed]:
    """UID → size and INTERNALDATE from a `UID FETCH … (UID RFC822.SIZE INTERNALDATE)` response.

    >>> listed = parse_listing([b'1 FETCH (UID 4 RFC822.SIZE 43 INTERNALDATE "01-Jan-2026 10:00:00 +0000")',
    ...                         b"2 FETCH (FLAGS (\\\\Seen))", b"Fetch completed."])
    >>> listed[4].size, listed[4].internal_date.isoformat()
    (43, '2026-01-01T10:00:00+00:00')
    """
    listed: dict[int, Listed] = {}
    for line in _text_lines(lines):
        if not _FETCH_START.match(line):
            continue
        uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
        if uid and size:
            listed[int(uid.group(1))] = Listed(int(size.group(1)), parse_internal_date(line))
    return listed


def parse_bodies(lines: Lines, section: str = "") -> dict[int, bytes | bytearray]:
    """UID → raw message from a `UID FETCH set (UID BODY.PEEK[])` response (or with `section`
    "HEADER", each header from `BODY.PEEK[HEADER]`), read in one pass; a UID the server sent no
    body for is missing.

    The UID may come before the literal or after it (`* 1 FETCH (BODY[] {n} … UID 5)`); FETCH
    responses without such a literal (flag changes pushed by the server) are skipped, and so is a
    literal whose length differs from the size announced for it.

    The literals are returned as aioimaplib read them (bytearrays), not copied: a message may be 25 MB.

    >>> parse_bodies([b"1 FETCH (UID 5 BODY[] {2}", bytearray(b"hi"), b")",
    ...               b"2 FETCH (BODY[] {3}", bytearray(b"you"), b" UID 7)", b"Fetch completed."])
    {5: bytearray(b'hi'), 7: bytearray(b'you')}
    """
    pattern = _BODY_LITERALS[section]
    items = _untagged(lines)
    bodies: dict[int, bytes | bytearray] = {}
    for index in range(len(items) - 1):
        line = items[index]
        if isinstance(line, bytearray) or not _FETCH_START.match(line):
            continue
        literal = pattern.search(line)
        content = items[index + 1]
        if literal is None or not isinstance(content, bytearray) or len(content) != int(literal.group(1)):
            continue
        trailer = items[index + 2] if index + 2 < len(items) else b""
        found = _FETCH_UID.search(line) or _FETCH_UID.search(b" " + bytes(trailer))
        if found:
            bodies[int(found.group(1))] = content
    return bodies


def parse_body(lines: Lines, uid: int, section: str = "") -> bytes | bytearray | None:
    """The raw message of `uid` from a `UID FETCH uid (BODY.PEEK[])` response (or with `section`
    "HEADER", its header from `BODY.PEEK[HEADER]`); None if the server sent none (see parse_bodies).

    >>> parse_body([b"1 FETCH (UID 5 BODY[] {2}", bytearray(b"hi"), b")", b"Fetch completed."], 5)
    bytearray(b'hi')
    >>> parse_body([b"1 FETCH (UID 5 BODY[HEADER] {2}", bytearray(b"hi"), b")", b"Done."], 5, "HEADER")
    bytearray(b'hi')
    """
    return parse_bodies(lines, section).get(uid)


def uid_set(uids: Iterable[int]) -> str:
    """A compact IMAP sequence set (RFC 3501 §9 `sequence-set`) of `uids`.

    >>> uid_set([7, 1, 2, 3, 5])
    '1:3,5,7'
    """
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("an IMAP sequence set cannot be empty")
    ranges: list[str] = []
    start = previous = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        ranges.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(ranges)


def encode_mailbox(name: str) -> str:
    """A mailbox name in IMAP modified UTF-7 (RFC 3501 §5.1.3); see imap_utf7.

    >>> encode_mailbox("Entwürfe")
    'Entw&APw-rfe'
    """
    return imap_utf7.encode(name)


def quote(argument: str) -> str:
    """An IMAP quoted string (RFC 3501 §4.3).

    >>> quote('a "b" \\\\ c')
    '"a \\\\"b\\\\" \\\\\\\\ c"'
    """
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'
