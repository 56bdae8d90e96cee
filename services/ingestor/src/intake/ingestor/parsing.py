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
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

from intake.ingestor.errors import Unreadable
from intake.ingestor.filenames import decode_filename, sanitise_filename
from intake.ingestor.html_text import html_to_text
from intake.ingestor.mime_split import NotSplittable, split_message
from intake.ingestor.plain_headers import is_plain_mime_header, mailboxes, unstructured
from intake.ingestor.tnef import is_tnef, read_tnef

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
_MSG_ID = re.compile(r"<[^<>\s]+>")
_FOLDING = re.compile(r"\s*[\r\n]+\s*")
# RFC 5322 §4.5 obsolete syntax: white space between a field name and its colon ("Subject :").
# The stdlib does not read such a line as a header field at all, so the headers would become body.
_OBS_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Address:
    """One mailbox: its address and display name ("" when there is none)."""

    address: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    """One kept part: regular, inline (`cid:` image) or a nested message as `.eml`."""

    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None


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


class _NeedsFullParser(Exception):
    """The common path met something only `policy.default` reads right; start again on the full path."""


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
    except Exception:  # _NeedsFullParser, or anything the full path's fallbacks handle.
        return None


def parse_message_fully(raw: bytes) -> ParsedMessage:
    """`parse_message` on the full (`policy.default`) path only: the reference the common path must equal."""
    if not raw.strip():
        raise Unreadable("the message is empty")
    return _checked(_parse, without_obsolete_field_names(raw), False)


def _checked(parse: Callable[[bytes, bool], ParsedMessage], raw: bytes, common: bool) -> ParsedMessage:
    try:
        return parse(raw, common)
    except (Unreadable, _NeedsFullParser):
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
        _plain_structure(message)
    body_text, body_html, attachments = _body_and_attachments(message, common)
    fields = _plain_fields(message) if common else {}
    header = _plain_reader(fields) if common else _header
    addresses = _plain_addresses_reader(fields) if common else _addresses
    references = tuple(_MSG_ID.findall(header(message, "References") or ""))
    return ParsedMessage(
        message_id=_message_id(header(message, "Message-ID")),
        in_reply_to=_message_id(header(message, "In-Reply-To")),
        references=references,
        subject=header(message, "Subject") or "",
        sender=next(iter(addresses(message, "From")), None),
        to=tuple(a.address for a in addresses(message, "To")),
        cc=tuple(a.address for a in addresses(message, "Cc")),
        date=_plain_date(header(message, "Date")) if common else _date(message),
        body_text=body_text,
        body_html=body_html,
        attachments=tuple(attachments),
        content_type=_content_type(message),
        headers=_decision_headers(message, header),
    )


def _compat32_tree(raw: bytes) -> Message:
    """The `compat32` tree, sliced (`mime_split`) where the message is well formed, else read by the
    stdlib's feed parser."""
    try:
        return split_message(raw)
    except NotSplittable:
        return message_from_bytes(raw, policy=policy.compat32)


# Headers


def _clean(value: str) -> str:
    """Text without the surrogates the parser uses for undecoded 8-bit bytes: read them as UTF-8."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that no undecoded byte made
        return value.encode("utf-8", "replace").decode("utf-8")


def _unfold(value: str) -> str:
    return _clean(_FOLDING.sub(" ", value).strip())


def _raw_header(message: Message, name: str) -> str | None:
    """The header as written, RFC 2047 words decoded when possible, without `policy.default` parsing."""
    for key, value in message.raw_items():
        if key.lower() != name.lower():
            continue
        text = str(value)
        try:
            return _unfold(str(make_header(decode_header(text))))
        except Exception:  # undecodable encoded words: keep the raw text.
            return _unfold(text)
    return None


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
        return None if value is None else _unfold(str(value))
    except Exception:  # `policy.default` raises on some hostile headers.
        return _raw_header(message, name)


def _decision_headers(message: Message, header: HeaderReader) -> dict[str, str]:
    present = {key.lower() for key in message}
    found: dict[str, str] = {}
    for name in DECISION_HEADERS:
        if name in present:
            value = header(message, name)
            if value is not None:
                found[name] = value
    return found


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _MSG_ID.search(value)
    return found.group(0) if found else (value.strip() or None)


def _addresses(message: Message, name: str) -> list[Address]:
    try:
        header = message.get(name)
        if header is None:
            return []
        return [
            Address(_clean(item.addr_spec), _clean(item.display_name))
            for item in getattr(header, "addresses", ())
            if item.addr_spec and item.addr_spec != "<>"
        ]
    except Exception:  # fall back to the lenient compat32 address parser.
        raw = _raw_header(message, name)
        if raw is None:
            return []
        try:
            return [Address(_clean(addr), _clean(display)) for display, addr in getaddresses([raw]) if addr]
        except Exception:
            return []


# The common path's header readers (`plain_headers`): `compat32` gives each field as written; the forms
# most mail uses are read here as `policy.default` reads them, anything else goes to the full path.
# Fields `policy.default` reads as unstructured text, whose encoded words are decoded.
_UNSTRUCTURED = frozenset(("subject", *DECISION_HEADERS))
_MIME_HEADERS = ("content-type", "content-disposition")


def _plain_structure(message: Message) -> None:
    """Raise `_NeedsFullParser` unless every part's MIME headers are plain: the policies' parsers
    disagree on boundaries and file names written loosely (unquoted with `=` or spaces, folded)."""
    for part in message.walk():
        for name, value in part.items():
            if name.lower() in _MIME_HEADERS and not is_plain_mime_header(str(value)):
                raise _NeedsFullParser(name)


HeaderReader = Callable[[Message, str], str | None]


def _plain_fields(message: Message) -> dict[str, str]:
    """The first value of each header field, unfolded as `policy.default` does it (RFC 5322 §2.2.3:
    the line breaks go, the blanks stay); one pass over the fields, not one per read."""
    first: dict[str, str] = {}
    for key, value in message.items():
        first.setdefault(key.lower(), str(value))
    return {name: "".join(value.splitlines()) for name, value in first.items()}


def _plain_reader(fields: Mapping[str, str]) -> HeaderReader:
    def read(_: Message, name: str) -> str | None:
        value = fields.get(name.lower())
        if value is None:
            return None
        if not value.isascii():  # RFC 6532 UTF-8 or 8-bit bytes: `compat32` keeps them undecoded.
            raise _NeedsFullParser(name)
        if name.lower() in _UNSTRUCTURED:
            value = unstructured(value)
        elif "=?" in value:
            raise _NeedsFullParser(name)
        return _unfold(value)

    return read


def _plain_addresses_reader(fields: Mapping[str, str]) -> Callable[[Message, str], list[Address]]:
    def read(_: Message, name: str) -> list[Address]:
        value = fields.get(name.lower())
        if value is None:
            return []
        if not value.isascii():
            raise _NeedsFullParser(name)
        return [Address(address, _unfold(display)) for address, display in mailboxes(_unfold(value))]

    return read


def _plain_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(raw)
    except Exception:  # an unparseable date is no date, as on the full path.
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _date(message: Message) -> datetime | None:
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


# Parts


def _leaves(part: Message) -> Iterator[Message]:
    """The non-multipart parts in order; nested messages are leaves (kept whole, as `.eml`)."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in part.get_payload():
            if isinstance(child, Message):
                yield from _leaves(child)
    else:
        yield part


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # RFC 2231 `name*` parameters can make `policy.default` raise.
        try:
            param = part.get_param("filename", header="content-disposition") or part.get_param("name")
        except Exception:
            return None
        # An RFC 2231 parameter comes back as (charset, language, value).
        name = param[2] if isinstance(param, tuple) else param
    if not isinstance(name, str):
        return None
    return decode_filename(_clean(name)) or None


def _content_id(part: Message) -> str | None:
    value = _header(part, "Content-ID")
    if not value:
        return None
    return value.strip().removeprefix("<").removesuffix(">") or None


def _payload_bytes(part: Message) -> bytes:
    if part.get_content_maintype() == "message":
        return _message_bytes(part)
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _message_bytes(part: Message) -> bytes:
    """A `message/*` part's content: the nested message(s) as bytes."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    chunks = []
    for nested in payload:
        if not isinstance(nested, Message):
            continue
        try:
            chunks.append(nested.as_bytes(policy=policy.default))
        except Exception:  # fall back to writing it back as compat32 does.
            chunks.append(nested.as_bytes(policy=policy.compat32))
    return b"".join(chunks)


def _text(part: Message) -> str:
    """The part's text, decoded with its charset; an unknown charset reads as UTF-8 with replacements."""
    content = _payload_bytes(part)
    charset = "utf-8"
    try:
        declared = part.get_content_charset()
        if declared:
            charset = codecs.lookup(declared).name
    except Exception:  # LookupError for an unknown charset, or a malformed parameter.
        charset = "utf-8"
    try:
        return content.decode(charset, errors="replace")
    except Exception:  # e.g. a codec that cannot decode at all.
        return content.decode("utf-8", errors="replace")


def _is_body_candidate(part: Message) -> bool:
    return (
        _content_type(part) in ("text/plain", "text/html")
        and _disposition(part) != "attachment"
        and _filename(part) is None
    )


def _body_and_attachments(message: EmailMessage | Message, common: bool) -> tuple[str, str | None, list[Attachment]]:
    body_text: str | None = None
    body_html: str | None = None
    attachments: list[Attachment] = []
    for part in _leaves(message):
        content_type = _content_type(part)
        if common and part.get_content_maintype() == "message":
            # A nested message is written back as `.eml` by its policy: only the full path's counts.
            raise _NeedsFullParser(content_type)
        if _is_body_candidate(part):
            if content_type == "text/plain" and body_text is None:
                body_text = _text(part)
                continue
            if content_type == "text/html" and body_html is None:
                body_html = _text(part)
                continue
            if _content_id(part) is None:
                # A further alternative or inline text part: the body already holds the message's text.
                continue
        attachment = _attachment(part, content_type, len(attachments) + 1)
        tnef = read_tnef(attachment.content) if is_tnef(attachment.content) else None
        if tnef is None or not tnef.files:
            attachments.append(attachment)
            continue
        # The files the sender attached replace the wrapper; Outlook's copy of the body fills an empty one.
        for file in tnef.files:
            name = sanitise_filename(file.name, len(attachments) + 1)
            attachments.append(Attachment(name, "application/octet-stream", file.content))
        if body_text is None and tnef.body_text:
            body_text = tnef.body_text
        if body_html is None and tnef.body_html:
            body_html = tnef.body_html
    if body_text is None:
        body_text = html_to_text(body_html) if body_html is not None else ""
    return body_text.strip("\r\n"), body_html, attachments


def _attachment(part: Message, content_type: str, index: int) -> Attachment:
    content_id = _content_id(part)
    name = _filename(part)
    if content_type in ("message/rfc822", "message/global"):
        content = _message_bytes(part)
        if name is None:
            name = f"{_nested_subject(part) or 'message'}.eml"
    else:
        content = _payload_bytes(part)
    return Attachment(
        filename=sanitise_filename(name, index, content_type),
        content_type=content_type,
        content=content,
        inline=content_id is not None and _disposition(part) != "attachment",
        content_id=content_id,
    )


def _nested_subject(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return _header(payload[0], "Subject")
    return None
