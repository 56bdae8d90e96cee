"""Safe file names for stored attachments: decoded, without directories or control characters, bounded.

Pure. A name comes from the sender and ends up in a download's Content-Disposition and on people's
disks, so it never carries a path, a control or format character, or more than 255 UTF-8 bytes; its
extension survives shortening; a part without a name gets one made up from its content type.
"""

from __future__ import annotations

import re
import unicodedata

from intake.shared.header_block import decode_words

MAX_FILENAME_BYTES = 255
# Longest extension kept whole when a name is shortened (".numbers", ".download" fit).
_MAX_EXTENSION_BYTES = 16
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# Extensions for made-up file names; a table, not `mimetypes`, which reads the host's files.
_EXTENSIONS = {
    "application/ms-tnef": ".dat",
    "application/msword": ".doc",
    "application/pdf": ".pdf",
    "application/pgp-signature": ".asc",
    "application/zip": ".zip",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "message/delivery-status": ".txt",
    "message/global": ".eml",
    "message/rfc822": ".eml",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/plain": ".txt",
}


def decode_filename(name: str) -> str:
    """A file name with RFC 2047 encoded words decoded: RFC 2231 forbids them in parameters, but
    Outlook and many webmailers write `filename="=?UTF-8?B?...?="` anyway.

    >>> decode_filename("=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?=")
    'Rechnung März.pdf'
    >>> decode_filename("plain.txt")
    'plain.txt'
    """
    if not _ENCODED_WORD.search(name):
        return name
    return decode_words(name)  # a broken encoded word: the name as written is still a name


def sanitise_filename(name: str | None, index: int, content_type: str = "application/octet-stream") -> str:
    """A safe file name: no directories, no control characters, at most 255 UTF-8 bytes.

    >>> sanitise_filename("../../etc/passwd", 1)
    'passwd'
    >>> sanitise_filename("C:\\\\Users\\\\me\\\\report\\x00.pdf", 1)
    'report.pdf'
    >>> sanitise_filename(None, 2, "application/pdf")
    'attachment-2.pdf'
    >>> sanitise_filename("...", 3)
    'attachment-3.bin'
    """
    cleaned = ""
    if name:
        cleaned = unicodedata.normalize("NFC", name)
        cleaned = cleaned.replace("\\", "/").rsplit("/", 1)[-1]
        # Cc: control characters (NUL, CR, LF, ESC); Cf: format characters such as U+202E, which
        # makes "invoice\u202efdp.exe" display as "invoiceexe.pdf".
        cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
        cleaned = cleaned.strip().strip(".").strip()
    if not cleaned:
        return f"attachment-{index}{_EXTENSIONS.get(content_type, '.bin')}"
    return _truncate(cleaned, MAX_FILENAME_BYTES)


def _truncate(name: str, limit: int) -> str:
    """Cut `name` to `limit` UTF-8 bytes at a character boundary, keeping a short extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode("utf-8")) > _MAX_EXTENSION_BYTES:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    room = limit - len(suffix.encode("utf-8"))
    return stem.encode("utf-8")[:room].decode("utf-8", errors="ignore") + suffix
