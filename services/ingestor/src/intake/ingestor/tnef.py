"""The files inside a TNEF `winmail.dat` (Outlook's "rich text" wrapper), with tnefparse.

Pure. A recipient without Outlook sees only an opaque winmail.dat; the files inside are what the
sender attached. Bytes that are not valid TNEF give None, and the caller keeps winmail.dat as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tnefparse import TNEF

# TNEF_SIGNATURE 0x223E9F78, little-endian, opens every TNEF stream ([MS-OXTNEF] §2.1.3.1).
TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"


@dataclass(frozen=True)
class TnefFile:
    name: str | None
    content: bytes


@dataclass(frozen=True)
class TnefContents:
    """The attached files, and the message body Outlook put inside (plain and/or HTML), if any."""

    files: tuple[TnefFile, ...]
    body_text: str | None
    body_html: str | None


def is_tnef(content: bytes) -> bool:
    """A part is TNEF by its signature, whatever its type or name says: real mail labels winmail.dat
    application/octet-stream, and a file named winmail.dat can be anything else.

    >>> is_tnef(b"\\x89PNG"), is_tnef(TNEF_SIGNATURE + b"\\x01\\x00")
    (False, True)
    """
    return content.startswith(TNEF_SIGNATURE)


def read_tnef(content: bytes) -> TnefContents | None:
    """The files and body inside `content`, or None when it cannot be decoded (truncated, corrupt)."""
    try:
        tnef = TNEF(content, do_checksum=False)
        files = tuple(
            TnefFile(_name(attachment), bytes(attachment.data))
            for attachment in tnef.attachments
            if isinstance(attachment.data, bytes | bytearray)
        )
        return TnefContents(files, _text(tnef.body), _text(tnef.htmlbody))
    except Exception:  # tnefparse raises ValueError, IndexError, struct.error on damaged input.
        return None


def _name(attachment: Any) -> str | None:
    """The long (MAPI) file name, else the 8.3 title; a name in an unexpected code page can raise."""
    for read in ("long_filename", "name"):
        try:
            value = getattr(attachment, read)
            if callable(value):
                value = value()
        except Exception:
            value = None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip("\x00").strip():
            return value.strip("\x00").strip()
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.strip("\x00").strip():
        return value.strip("\x00")
    return None
