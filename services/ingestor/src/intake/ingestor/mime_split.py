"""The parsing fast path's MIME reader: a well-formed message as the `compat32` message tree, by slicing.

Pure. The stdlib's feed parser reads a message line by line and compiles a regular expression for
every multipart boundary it meets (one per message, as boundaries are unique: the regex cache never
helps), which is most of the cost of parsing ordinary mail. Here the header block of each part is
read by `compat32`'s own header rules and the body is sliced at the delimiter lines (RFC 2046 §5.1.1)
found with `str.find`, giving the same tree: the same headers, the same payload strings (the line
break before a delimiter belongs to the delimiter). Anything the feed parser reads with a defect or a
special rule (a missing close delimiter, empty parts, bare CR line breaks, lines that are no header
field, `From ` lines, digests, nested messages) raises `NotSplittable`, and the caller uses the feed
parser itself.
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message

_HEADER_LINE = re.compile(r"[\041-\071\073-\176]+:|[\t ]")
_BLANK_LINE = re.compile(r"\r?\n\r?\n")


class NotSplittable(Exception):
    """The message needs the feed parser's reading."""


def split_message(raw: bytes) -> Message:
    """The `compat32` message tree of `raw`, as `email.message_from_bytes(raw, policy=compat32)` gives it."""
    text = raw.decode("ascii", "surrogateescape")
    if text.count("\r") != text.count("\r\n"):
        raise NotSplittable("bare CR")
    return _part(text)


def _part(text: str) -> Message:
    message = Message(policy=policy.compat32)
    if text.startswith(("\r\n", "\n")):
        body = text[2:] if text.startswith("\r\n") else text[1:]
    else:
        end = _BLANK_LINE.search(text)
        if end is None:
            raise NotSplittable("no blank line after the header")
        first_break = 2 if text[end.start()] == "\r" else 1
        _headers(message, text[: end.start() + first_break])
        body = text[end.start() + first_break :]
        body = body[2:] if body.startswith("\r\n") else body[1:]
    maintype = message.get_content_maintype()
    if maintype == "message" or message.get_content_type() == "multipart/digest":
        raise NotSplittable(maintype)
    if maintype != "multipart":
        message.set_payload(body)
        return message
    boundary = message.get_boundary()
    if not boundary:
        raise NotSplittable("no boundary")
    message.set_payload([])
    for part in _parts(body, "--" + boundary):
        message.attach(_part(part))
    return message


def _headers(message: Message, block: str) -> None:
    """The header fields of `block` (lines with their breaks, no blank line), stored as `compat32` does."""
    lines = [line + "\n" for line in block.split("\n")[:-1]]  # only LF and CRLF break lines here
    field: list[str] = []
    for line in lines:
        if line[0] in " \t":
            if not field:
                raise NotSplittable("a continuation line first")
            field.append(line)
            continue
        if not _HEADER_LINE.match(line) or line.startswith("From "):
            raise NotSplittable("not a header line")
        if field:
            message.set_raw(*message.policy.header_source_parse(field))
        field = [line]
    if field:
        message.set_raw(*message.policy.header_source_parse(field))


def _parts(body: str, separator: str) -> list[str]:
    """The texts between the delimiter lines of `separator` (without the line break before each
    delimiter); NotSplittable without a close delimiter or with an empty part."""
    parts: list[str] = []
    start: int | None = None  # where the current part's text starts (None: still in the preamble)
    position = 0
    while True:
        found = body.find(separator, position)
        if found < 0:
            raise NotSplittable("no close delimiter")
        position = found + len(separator)
        if found > 0 and body[found - 1] != "\n":
            continue  # not at the start of a line
        line_end = body.find("\n", position)
        rest = body[position:] if line_end < 0 else body[position : line_end + 1]
        closing = rest.startswith("--")
        if (rest[2:] if closing else rest).rstrip("\r\n").strip(" \t"):
            continue  # the boundary is only a prefix of this line's text
        if start is not None:
            part = body[start:found]
            part = part[:-2] if part.endswith("\r\n") else part[:-1] if part.endswith("\n") else part
            if not part:
                raise NotSplittable("an empty part")
            parts.append(part)
        if closing:
            if not parts:
                raise NotSplittable("no part")  # the feed parser keeps the body as text then
            return parts
        if line_end < 0:
            raise NotSplittable("a delimiter at the end")
        start = position = line_end + 1
