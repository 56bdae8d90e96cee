"""Reading one message's header fields into values: Message-IDs, addresses, dates, the decision headers.

Pure. Two sets of readers, one per parsing path (`parsing.py`): the full path's read `policy.default`
header objects and fall back to the raw text where a hostile header makes them raise; the common
path's read the `compat32` fields as written, handle the forms most mail uses (`plain_headers`) and
raise `NeedsFullParser` for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from intake.ingestor.plain_headers import is_plain_mime_header, mailboxes, unstructured
from intake.shared.header_block import decode_words

# Header fields that other decisions read as written (unfolded, RFC 2047 decoded), by lower-case name:
# auto-reply and bounce detection (RFC 3834 Auto-Submitted, Precedence, the X-Auto* family of
# vacation responders, Return-Path `<>` of a bounce, RFC 2369 List-Id, X-Failed-Recipients).
DECISION_HEADERS = (
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "return-path",
    "list-id",
    "x-failed-recipients",
)
# Message-IDs (RFC 5322 §3.6.4) in Message-ID, In-Reply-To and References.
MSG_ID = re.compile(r"<[^<>\s]+>")
_FOLDING = re.compile(r"\s*[\r\n]+\s*")


@dataclass(frozen=True)
class Address:
    """One mailbox: its address and display name ("" when there is none)."""

    address: str
    name: str = ""


class NeedsFullParser(Exception):
    """The common path met something only `policy.default` reads right; start again on the full path."""


def clean(value: str) -> str:
    """Text without the surrogates the parser uses for undecoded 8-bit bytes: read them as UTF-8."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that no undecoded byte made
        return value.encode("utf-8", "replace").decode("utf-8")


def _unfold(value: str) -> str:
    return clean(_FOLDING.sub(" ", value).strip())


def _raw_header(message: Message, name: str) -> str | None:
    """The header as written, RFC 2047 words decoded when possible, without `policy.default` parsing."""
    for key, value in message.raw_items():
        if key.lower() != name.lower():
            continue
        return _unfold(decode_words(str(value)))  # undecodable encoded words: the raw text
    return None


def full_header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
        return None if value is None else _unfold(str(value))
    except Exception:  # `policy.default` raises on some hostile headers.
        return _raw_header(message, name)


def decision_headers(message: Message, header: HeaderReader) -> dict[str, str]:
    present = {key.lower() for key in message}
    found: dict[str, str] = {}
    for name in DECISION_HEADERS:
        if name in present:
            value = header(message, name)
            if value is not None:
                found[name] = value
    return found


def message_id_of(value: str | None) -> str | None:
    if not value:
        return None
    found = MSG_ID.search(value)
    return found.group(0) if found else (value.strip() or None)


def full_addresses(message: Message, name: str) -> list[Address]:
    try:
        header = message.get(name)
        if header is None:
            return []
        return [
            Address(clean(item.addr_spec), clean(item.display_name))
            for item in getattr(header, "addresses", ())
            if item.addr_spec and item.addr_spec != "<>"
        ]
    except Exception:  # fall back to the lenient compat32 address parser.
        raw = _raw_header(message, name)
        if raw is None:
            return []
        try:
            return [Address(clean(addr), clean(display)) for display, addr in getaddresses([raw]) if addr]
        except Exception:
            return []


# The common path's header readers (`plain_headers`): `compat32` gives each field as written; the forms
# most mail uses are read here as `policy.default` reads them, anything else goes to the full path.
# Fields `policy.default` reads as unstructured text, whose encoded words are decoded.
_UNSTRUCTURED = frozenset(("subject", *DECISION_HEADERS))
_MIME_HEADERS = ("content-type", "content-disposition")


def plain_structure(message: Message) -> None:
    """Raise `NeedsFullParser` unless every part's MIME headers are plain: the policies' parsers
    disagree on boundaries and file names written loosely (unquoted with `=` or spaces, folded)."""
    for part in message.walk():
        for name, value in part.items():
            if name.lower() in _MIME_HEADERS and not is_plain_mime_header(str(value)):
                raise NeedsFullParser(name)


HeaderReader = Callable[[Message, str], str | None]


def plain_fields(message: Message) -> dict[str, str]:
    """The first value of each header field, unfolded as `policy.default` does it (RFC 5322 §2.2.3:
    the line breaks go, the blanks stay); one pass over the fields, not one per read."""
    first: dict[str, str] = {}
    for key, value in message.items():
        first.setdefault(key.lower(), str(value))
    return {name: "".join(value.splitlines()) for name, value in first.items()}


def plain_reader(fields: Mapping[str, str]) -> HeaderReader:
    def read(_: Message, name: str) -> str | None:
        value = fields.get(name.lower())
        if value is None:
            return None
        if not value.isascii():  # RFC 6532 UTF-8 or 8-bit bytes: `compat32` keeps them undecoded.
            raise NeedsFullParser(name)
        if name.lower() in _UNSTRUCTURED:
            value = unstructured(value)
        elif "=?" in value:
            raise NeedsFullParser(name)
        return _unfold(value)

    return read


def plain_addresses_reader(fields: Mapping[str, str]) -> Callable[[Message, str], list[Address]]:
    def read(_: Message, name: str) -> list[Address]:
        value = fields.get(name.lower())
        if value is None:
            return []
        if not value.isascii():
            raise NeedsFullParser(name)
        return [Address(address, _unfold(display)) for address, display in mailboxes(_unfold(value))]

    return read


def plain_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(raw)
    except Exception:  # an unparseable date is no date, as on the full path.
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def full_date(message: Message) -> datetime | None:
    try:
        header = message.get("Date")
        value = getattr(header, "datetime", None) if header is not None else None
    except Exception:
        value = None
    if value is None:
        raw = _raw_header(message, "Date")
        if not raw:
            return None
        try:
            value = parsedate_to_datetime(raw)
        except Exception:  # an unparseable date is no date.
            return None
    if not isinstance(value, datetime):
        return None
    # RFC 5322 §3.3: "-0000" means the zone is unknown; UTC is the best reading of it.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
