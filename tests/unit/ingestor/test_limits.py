"""limits.over_limit: the first attachment over the per-attachment limit, else the per-message total."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from intake.ingestor.limits import AttachmentLimits, over_limit, size_text


@dataclass(frozen=True)
class File:
    filename: str
    content: bytes


def files(*sizes: int) -> list[File]:
    return [File(f"f{index}.bin", b"x" * size) for index, size in enumerate(sizes, 1)]


@pytest.mark.parametrize(
    ("sizes", "limits", "reason"),
    [
        ((), AttachmentLimits(10, 10), None),
        ((10,), AttachmentLimits(10, 10), None),
        (
            (11,),
            AttachmentLimits(10, 100),
            "attachment 'f1.bin' is 11 bytes, over the limit of 10 bytes per attachment",
        ),
        (
            (5, 12, 20),
            AttachmentLimits(10, 100),
            "attachment 'f2.bin' is 12 bytes, over the limit of 10 bytes per attachment",
        ),
        (
            (6, 9),
            AttachmentLimits(10, 14),
            "the attachments total 15 bytes, over the limit of 14 bytes per message (largest: 'f2.bin' 9 bytes)",
        ),
    ],
)
def test_over_limit(sizes: tuple[int, ...], limits: AttachmentLimits, reason: str | None) -> None:
    assert over_limit(files(*sizes), limits) == reason


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (2048, "2.0 KiB (2048 bytes)"), (26_214_400, "25.0 MiB (26214400 bytes)")],
)
def test_size_text(size: int, text: str) -> None:
    assert size_text(size) == text
