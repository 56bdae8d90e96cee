"""Writes small TNEF streams ([MS-OXTNEF]) for tests: the project's own winmail.dat fixtures."""

from __future__ import annotations

import struct

SIGNATURE = 0x223E9F78
LEVEL_MESSAGE = 0x01
LEVEL_ATTACHMENT = 0x02
# (attribute id, attribute type) as [MS-OXTNEF] §2.1.3.3 numbers them.
TNEF_VERSION = (0x9006, 0x0008)
OEM_CODEPAGE = (0x9007, 0x0006)
MESSAGE_CLASS = (0x8008, 0x0007)
ATTACH_REND_DATA = (0x9002, 0x0006)
ATTACH_TITLE = (0x8010, 0x0001)
ATTACH_DATA = (0x800F, 0x0006)


def _attribute(level: int, attribute: tuple[int, int], data: bytes) -> bytes:
    name, kind = attribute
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def winmail_dat(files: list[tuple[str, bytes]]) -> bytes:
    """A TNEF stream holding `files` (name, content), as Outlook writes one for a "rich text" mail."""
    out = struct.pack("<IH", SIGNATURE, 0x0001)
    out += _attribute(LEVEL_MESSAGE, TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += _attribute(LEVEL_MESSAGE, OEM_CODEPAGE, struct.pack("<II", 1252, 0))
    out += _attribute(LEVEL_MESSAGE, MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00")
    for name, content in files:
        out += _attribute(LEVEL_ATTACHMENT, ATTACH_REND_DATA, struct.pack("<HIIHHI", 1, 0xFFFFFFFF, 0, 0, 0, 0))
        out += _attribute(LEVEL_ATTACHMENT, ATTACH_TITLE, name.encode("utf-8") + b"\x00")
        out += _attribute(LEVEL_ATTACHMENT, ATTACH_DATA, content)
    return out
