"""Turning the raw bytes of one email message into a `ParsedMessage` value: headers, body, attachments.

Pure and defensive. Two paths give the same value (a test compares them over the corpus):
- the common path: mail without nested messages whose header fields we keep are written in the
  forms most mail uses (`plain_headers`: plain ASCII, whole RFC 2047 encoded words, simple mailboxes,
  RFC 2231 file names in UTF-8) is parsed with the cheap `compat32` policy and only the header fields
  we keep are read (about 5x faster); anything else makes it give up, and the full path starts again;
- the full path: stdlib `email` with `policy.default` for everything else (RFC 2047, RFC 6532
  UTF-8 headers, odd address syntax, `message/rfc822` parts), where any exception on one header or
  part falls back to the raw value (DESIGN §2: hostile headers make `policy.default` raise).
Only bytes that are not an email message at all raise `Unreadable`.
The header fields are read by `message_headers`, the body and attachments found by `mime_parts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import Message

from intake.ingestor.errors import Unreadable
from intake.ingestor.message_headers import (
    MSG_ID,
    Address,
    NeedsFullParser,
    decision_headers,
    full_addresses,
    full_date,
    full_header,
    message_id_of,
    plain_addresses_reader,
    plain_date,
    plain_fields,
    plain_reader,
    plain_structure,
)
from intake.ingestor.mime_parts import Attachment, body_and_attachments, content_type_of
from intake.ingestor.mime_split import NotSplittable, split_message

# RFC 5322 §4.5 obsolete syntax: white space between a field name and its colon ("Subject :").
# The stdlib does not read such a line as a header field at all, so the headers would become body.
_OBS_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class ParsedMessage:
    """What the ingestor keeps of a message. `content_type` is the top-level type (`multipart/report`
    for a delivery report); `headers` holds the first value of each of `DECISION_HEADERS` present."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    sender: Address | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    body_text: str
    body_html: str | None
    attachments: tuple[Attachment, ...]
    content_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The value of one of `DECISION_HEADERS` (any case), or None when the message has none."""
        return self.headers.get(name.lower())


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse `raw`; raise `Unreadable` with the reason when it is not an email message at all."""
    if not raw.strip():
        raise Unreadable("the message is empty")
    raw = without_obsolete_field_names(raw)
    common = _parse_common(raw)
    return common if common is not None else _checked(_parse, raw, False)


def _parse_common(raw: bytes) -> ParsedMessage | None:
    """The common path's value, or None to take the full path."""
    try:
        return _parse(raw, True)
    except Unreadable:
        raise
    except Exception:  # NeedsFullParser, or anything the full path's fallbacks handle.
        return None


def parse_message_fully(raw: bytes) -> ParsedMessage:
    """`parse_message` on the full (`policy.default`) path only: the reference the common path must equal."""
    if not raw.strip():
        raise Unreadable("the message is empty")
    return _checked(_parse, without_obsolete_field_names(raw), False)


def _checked(parse: Callable[[bytes, bool], ParsedMessage], raw: bytes, common: bool) -> ParsedMessage:
    try:
        return parse(raw, common)
    except (Unreadable, NeedsFullParser):
        raise
    except Exception as error:
        # The fallbacks below cover the failures seen in real mail; anything else is as permanent
        # (the same bytes fail the same way), so it is a rejection with the reason, never a retry loop.
        raise Unreadable(f"the message cannot be parsed: {type(error).__name__}: {error}") from None


def without_obsolete_field_names(raw: bytes) -> bytes:
    """`raw` with `Name :` field names in the header section written `Name:` (RFC 5322 §4.5).

    >>> without_obsolete_field_names(b"From  : a@example.com\\r\\nSubject\\t:Hi\\r\\n\\r\\nBody : text")
    b'From: a@example.com\\r\\nSubject:Hi\\r\\n\\r\\nBody : text'
    """
    end = _HEADER_END.search(raw)
    head = raw[: end.start()] if end else raw
    if b" :" not in head and b"\t:" not in head:
        return raw
    return _OBS_FIELD_NAME.sub(rb"\1:", head) + raw[len(head) :]


def _parse(raw: bytes, common: bool) -> ParsedMessage:
    message = _compat32_tree(raw) if common else message_from_bytes(raw, policy=policy.default)
    if not message.keys():
        raise Unreadable("the message has no header fields, so it is not an email message")
    if common:
        plain_structure(message)
    body_text, body_html, attachments = body_and_attachments(message, common)
    fields = plain_fields(message) if common else {}
    header = plain_reader(fields) if common else full_header
    addresses = plain_addresses_reader(fields) if common else full_addresses
    references = tuple(MSG_ID.findall(header(message, "References") or ""))
    return ParsedMessage(
        message_id=message_id_of(header(message, "Message-ID")),
        in_reply_to=message_id_of(header(message, "In-Reply-To")),
        references=references,
        subject=header(message, "Subject") or "",
        sender=next(iter(addresses(message, "From")), None),
        to=tuple(a.address for a in addresses(message, "To")),
        cc=tuple(a.address for a in addresses(message, "Cc")),
        date=plain_date(header(message, "Date")) if common else full_date(message),
        body_text=body_text,
        body_html=body_html,
        attachments=tuple(attachments),
        content_type=content_type_of(message),
        headers=decision_headers(message, header),
    )


def _compat32_tree(raw: bytes) -> Message:
    """The `compat32` tree, sliced (`mime_split`) where the message is well formed, else read by the
    stdlib's feed parser."""
    try:
        return split_message(raw)
    except NotSplittable:
        return message_from_bytes(raw, policy=policy.compat32)
