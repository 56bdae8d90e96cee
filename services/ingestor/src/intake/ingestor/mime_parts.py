"""The MIME walk of one message: which leaf part is its text or HTML body, which are its attachments.

Pure. Walks the leaf parts in order: the first text/plain and text/html parts that are not
attachments are the body; every other part is an `Attachment` (a nested message as `.eml`, a TNEF
`winmail.dat` replaced by the files it wraps). On the common path a nested message raises
`NeedsFullParser`: only the full path writes it back as the reference does.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message

from intake.ingestor.filenames import decode_filename, sanitise_filename
from intake.ingestor.html_text import html_to_text
from intake.ingestor.message_headers import NeedsFullParser, clean, full_header
from intake.ingestor.tnef import is_tnef, read_tnef


@dataclass(frozen=True)
class Attachment:
    """One kept part: regular, inline (`cid:` image) or a nested message as `.eml`."""

    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None


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


def content_type_of(part: Message) -> str:
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
    return decode_filename(clean(name)) or None


def _content_id(part: Message) -> str | None:
    value = full_header(part, "Content-ID")
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
        content_type_of(part) in ("text/plain", "text/html")
        and _disposition(part) != "attachment"
        and _filename(part) is None
    )


def body_and_attachments(message: EmailMessage | Message, common: bool) -> tuple[str, str | None, list[Attachment]]:
    body_text: str | None = None
    body_html: str | None = None
    attachments: list[Attachment] = []
    for part in _leaves(message):
        content_type = content_type_of(part)
        if common and part.get_content_maintype() == "message":
            # A nested message is written back as `.eml` by its policy: only the full path's counts.
            raise NeedsFullParser(content_type)
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
        return full_header(payload[0], "Subject")
    return None
