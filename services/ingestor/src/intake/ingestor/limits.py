"""Size limits on attachments, per attachment and per message (pure).

A message over a limit cannot be stored as it is: its outcome is `rejected` with a reason naming the
attachment and the sizes, and it stays in the mailbox for a person to handle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Sized(Protocol):
    @property
    def filename(self) -> str: ...
    @property
    def content(self) -> bytes: ...


@dataclass(frozen=True)
class AttachmentLimits:
    """Largest attachment, and largest sum of one message's attachments, in bytes."""

    max_attachment_bytes: int = 25 * 1024 * 1024
    max_message_attachment_bytes: int = 50 * 1024 * 1024


def size_text(size: int) -> str:
    """A size people read, with the exact bytes.

    >>> size_text(512), size_text(31_457_280)
    ('512 bytes', '30.0 MiB (31457280 bytes)')
    """
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB ({size} bytes)"
    return f"{size / (1024 * 1024):.1f} MiB ({size} bytes)"


def over_limit(attachments: Sequence[Sized], limits: AttachmentLimits) -> str | None:
    """Why the attachments are too large to store, or None when they fit.

    >>> class A:
    ...     def __init__(self, name, size): self.filename, self.content = name, b"x" * size
    >>> over_limit([A("a.pdf", 10)], AttachmentLimits(8, 100))
    "attachment 'a.pdf' is 10 bytes, over the limit of 8 bytes per attachment"
    >>> over_limit([A("a.pdf", 6), A("b.pdf", 6)], AttachmentLimits(8, 10))
    "the attachments total 12 bytes, over the limit of 10 bytes per message (largest: 'a.pdf' 6 bytes)"
    >>> over_limit([A("a.pdf", 6)], AttachmentLimits(8, 10)) is None
    True
    """
    for attachment in attachments:
        size = len(attachment.content)
        if size > limits.max_attachment_bytes:
            return (
                f"attachment {attachment.filename!r} is {size_text(size)}, "
                f"over the limit of {size_text(limits.max_attachment_bytes)} per attachment"
            )
    total = sum(len(attachment.content) for attachment in attachments)
    if total > limits.max_message_attachment_bytes:
        largest = max(attachments, key=lambda attachment: len(attachment.content))
        return (
            f"the attachments total {size_text(total)}, over the limit of "
            f"{size_text(limits.max_message_attachment_bytes)} per message "
            f"(largest: {largest.filename!r} {size_text(len(largest.content))})"
        )
    return None
