"""Attachments through the real ingestor: kinds kept, content stored once, size limits reject the message."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from email.message import EmailMessage

import asyncpg
import pytest

from intake.ingestor.app import IngestorApp
from intake.shared.blobs import get_blob
from intake.shared.contracts import Outcome
from tests.integration.ingestor.conftest import Mailroom, MakeInbox, settings
from tests.support.mail import make_mail
from tests.support.tnef import winmail_dat

MAX_ATTACHMENT = 4096
MAX_MESSAGE = 6000
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
async def ingestor(database_url: str, amqp_url: str, make_inbox: MakeInbox) -> AsyncIterator[IngestorApp]:
    limited = settings(database_url, amqp_url).model_copy(
        update={
            "ingestor_max_attachment_bytes": MAX_ATTACHMENT,
            "ingestor_max_message_attachment_bytes": MAX_MESSAGE,
        }
    )
    async with IngestorApp(limited) as app:
        yield app


async def attachments(db: asyncpg.Connection, issue_number: int | None) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT a.* FROM tracker.attachment_view a JOIN tracker.message_view m ON m.id = a.message_id
           WHERE m.issue_number = $1 ORDER BY a.id""",
        issue_number,
    )


def rich_mail() -> bytes:
    """HTML with an inline cid: image, a forwarded message and a winmail.dat."""
    mail = EmailMessage()
    mail["From"] = "outlook@example.com"
    mail["To"] = "support@example.org"
    mail["Subject"] = "Everything at once"
    mail["Message-ID"] = "<rich-1@example.com>"
    mail.set_content("See the picture.")
    mail.add_alternative('<p>See <img src="cid:logo@example.com"></p>', subtype="html")
    html = mail.get_payload()[1]
    html.add_related(PNG, maintype="image", subtype="png", cid="<logo@example.com>")
    forwarded = EmailMessage()
    forwarded["From"] = "bob@example.com"
    forwarded["Subject"] = "Original"
    forwarded.set_content("The original.")
    mail.add_attachment(forwarded)
    mail.add_attachment(
        winmail_dat([("report.pdf", b"%PDF-1.4 report"), ("notes.txt", b"notes")]),
        maintype="application",
        subtype="ms-tnef",
        filename="winmail.dat",
    )
    return mail.as_bytes()


async def test_every_kind_of_attachment_is_stored(db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int) -> None:
    processed = await mailroom.deliver(inbox_id, rich_mail())

    assert processed.outcome is Outcome.ISSUE_CREATED
    rows = await attachments(db, processed.issue_number)
    kept = [(r["filename"], r["content_type"], r["inline"], r["content_id"]) for r in rows]
    assert kept == [
        ("attachment-1.png", "image/png", True, "logo@example.com"),
        ("Original.eml", "message/rfc822", False, None),
        ("report.pdf", "application/octet-stream", False, None),
        ("notes.txt", "application/octet-stream", False, None),
    ]
    assert await get_blob(db, rows[0]["sha256"]) == PNG
    eml = await get_blob(db, rows[1]["sha256"])
    assert eml is not None
    assert b"Subject: Original" in eml
    assert b"The original." in eml
    assert await get_blob(db, rows[2]["sha256"]) == b"%PDF-1.4 report"
    html = await db.fetchval("SELECT body_html FROM tracker.messages WHERE issue_number = $1", processed.issue_number)
    assert 'src="cid:logo@example.com"' in html


async def test_identical_content_is_stored_once(db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int) -> None:
    first = await mailroom.deliver(
        inbox_id, make_mail("One", "<same-1@example.com>", attachments=(("a.png", "image/png", PNG),))
    )
    second = await mailroom.deliver(
        inbox_id, make_mail("Two", "<same-2@example.com>", attachments=(("b.png", "image/png", PNG),))
    )

    keys = [r["sha256"] for n in (first.issue_number, second.issue_number) for r in await attachments(db, n)]
    assert keys == [hashlib.sha256(PNG).hexdigest()] * 2
    assert await db.fetchval("SELECT count(*) FROM blobs.blobs WHERE sha256 = $1", keys[0]) == 1


async def test_attachment_over_the_limit_rejects_the_message(
    db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int
) -> None:
    big = b"x" * (MAX_ATTACHMENT + 1)
    processed = await mailroom.deliver(
        inbox_id,
        make_mail("Big", "<big-1@example.com>", attachments=(("dump.bin", "application/octet-stream", big),)),
    )

    assert processed.outcome is Outcome.REJECTED
    assert (
        processed.reason
        == "attachment 'dump.bin' is 4.0 KiB (4097 bytes), over the limit of 4.0 KiB (4096 bytes) per attachment"
    )
    assert await db.fetchval("SELECT count(*) FROM tracker.issue_view") == 0


async def test_attachments_over_the_message_limit_reject_the_message(mailroom: Mailroom, inbox_id: int) -> None:
    part = b"y" * 3500
    processed = await mailroom.deliver(
        inbox_id,
        make_mail(
            "Many",
            "<many-1@example.com>",
            attachments=(("a.bin", "application/octet-stream", part), ("b.bin", "application/octet-stream", part)),
        ),
    )

    assert processed.outcome is Outcome.REJECTED
    assert processed.reason == (
        "the attachments total 6.8 KiB (7000 bytes), over the limit of 5.9 KiB (6000 bytes) per message "
        "(largest: 'a.bin' 3.4 KiB (3500 bytes))"
    )
