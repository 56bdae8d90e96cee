"""The ingestor end to end on real PostgreSQL and RabbitMQ: `message.fetched` in, issues and `message.processed` out."""

from __future__ import annotations

import hashlib

import asyncpg

from intake.ingestor.app import IngestorApp
from intake.shared.blobs import get_blob
from intake.shared.contracts import Outcome
from tests.integration.ingestor.conftest import Mailroom, MakeInbox, TestBus, make_mail, settings

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


async def counts(db: asyncpg.Connection) -> tuple[int, int]:
    issues = await db.fetchval("SELECT count(*) FROM tracker.issue_view")
    messages = await db.fetchval("SELECT count(*) FROM tracker.message_view")
    return issues, messages


async def test_new_message_creates_an_issue_with_its_attachment(
    db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int
) -> None:
    raw = make_mail(
        "Printer on fire",
        "<new-1@example.com>",
        attachments=(("invoice.pdf", "application/pdf", PDF),),
    )

    processed = await mailroom.deliver(inbox_id, raw)

    assert processed.outcome is Outcome.ISSUE_CREATED
    assert processed.message_id == "<new-1@example.com>"
    assert processed.attempts == 1
    issue = await db.fetchrow("SELECT * FROM tracker.issue_view WHERE number = $1", processed.issue_number)
    assert issue["title"] == "Printer on fire"
    assert issue["status"] == "open"
    assert issue["requester_email"] == "alice@example.com"
    assert issue["requester_name"] == "Alice Example"
    assert issue["inbox_id"] == inbox_id
    assert issue["language"] == "en"
    assert issue["issue_type_id"] == await db.fetchval("SELECT id FROM config.issue_types WHERE name = 'Support'")
    message = await db.fetchrow("SELECT * FROM tracker.message_view WHERE issue_number = $1", issue["number"])
    assert message["from_address"] == "alice@example.com"
    assert message["to_addresses"] == ["support@example.org"]
    assert message["body_text"].strip() == "Hello."
    attachment = await db.fetchrow("SELECT * FROM tracker.attachment_view WHERE message_id = $1", message["id"])
    assert attachment["filename"] == "invoice.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(PDF)
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert await get_blob(db, attachment["sha256"]) == PDF
    stored = await db.fetchrow("SELECT * FROM tracker.outcomes WHERE uid = $1", processed.uid)
    assert stored["outcome"] == "issue_created"


async def test_reply_with_issue_tag_is_appended(db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int) -> None:
    created = await mailroom.deliver(inbox_id, make_mail("Printer on fire", "<a-1@example.com>"))
    number = created.issue_number

    reply = await mailroom.deliver(inbox_id, make_mail(f"Re: Printer on fire [#{number}]", "<a-2@example.com>"))

    assert reply.outcome is Outcome.ISSUE_UPDATED
    assert reply.issue_number == number
    assert reply.reason == f"subject tag [#{number}] names issue #{number}"
    assert await counts(db) == (1, 2)


async def test_unknown_issue_number_creates_a_new_issue(
    db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int
) -> None:
    processed = await mailroom.deliver(inbox_id, make_mail("Re: [#999] old ticket", "<b-1@example.com>"))

    assert processed.outcome is Outcome.ISSUE_CREATED
    assert processed.issue_number != 999
    assert "which does not exist" in processed.reason
    assert await counts(db) == (1, 1)


async def test_reply_without_tag_joins_its_thread(db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int) -> None:
    created = await mailroom.deliver(inbox_id, make_mail("Question", "<t-1@example.com>"))

    reply = await mailroom.deliver(
        inbox_id, make_mail("Re: Question", "<t-2@example.com>", references=("<t-1@example.com>",))
    )

    assert reply.outcome is Outcome.ISSUE_UPDATED
    assert reply.issue_number == created.issue_number
    assert await counts(db) == (1, 2)


async def test_same_fetched_message_twice_gives_the_same_outcome(
    db: asyncpg.Connection, mailroom: Mailroom, test_bus: TestBus, inbox_id: int
) -> None:
    fetched = await mailroom.fetched(inbox_id, make_mail("Twice", "<c-1@example.com>"))

    await test_bus.publish(fetched)
    first = await test_bus.next_processed()
    await test_bus.publish(fetched)
    second = await test_bus.next_processed()

    assert second == first
    assert first.outcome is Outcome.ISSUE_CREATED
    assert await counts(db) == (1, 1)
    assert await db.fetchval("SELECT count(*) FROM tracker.outcomes") == 1


async def test_same_message_id_under_another_uid_is_a_duplicate(
    db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int
) -> None:
    raw = make_mail("Copied", "<d-1@example.com>")
    first = await mailroom.deliver(inbox_id, raw, uid=10)

    second = await mailroom.deliver(inbox_id, raw, uid=11)

    assert second.outcome is Outcome.DUPLICATE
    assert second.issue_number == first.issue_number
    assert "already stored on issue" in second.reason
    assert await counts(db) == (1, 1)


async def test_unmatched_mail_of_an_ignoring_inbox_is_skipped(
    db: asyncpg.Connection, mailroom: Mailroom, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox(unmatched_action="ignore")

    processed = await mailroom.deliver(inbox_id, make_mail("Hello", "<e-1@example.com>"))

    assert processed.outcome is Outcome.UNMATCHED_IGNORED
    assert processed.issue_number is None
    assert (
        processed.reason
        == "no issue matched (subject has no issue tag like [#42]) and the inbox ignores unmatched mail"
    )
    assert await counts(db) == (0, 0)


async def test_missing_blob_is_rejected(
    db: asyncpg.Connection, mailroom: Mailroom, test_bus: TestBus, inbox_id: int
) -> None:
    fetched = (await mailroom.fetched(inbox_id, b"unused")).model_copy(update={"raw_sha256": "0" * 64})

    await test_bus.publish(fetched)
    processed = await test_bus.next_processed()

    assert processed.outcome is Outcome.REJECTED
    assert processed.reason == f"the raw message {'0' * 64} is not in the blob store"
    assert await db.fetchval("SELECT outcome FROM tracker.outcomes WHERE uid = $1", fetched.uid) == "rejected"


async def test_unknown_inbox_is_rejected(mailroom: Mailroom, inbox_id: int) -> None:
    processed = await mailroom.deliver(inbox_id + 1000, make_mail("Hello", "<f-1@example.com>"))

    assert processed.outcome is Outcome.REJECTED
    assert processed.reason == f"inbox {inbox_id + 1000} no longer exists"


async def test_unreadable_message_is_rejected_once(mailroom: Mailroom, inbox_id: int) -> None:
    first = await mailroom.deliver(inbox_id, b"\x00\xffnot mail at all", uid=20)
    again = await mailroom.deliver(inbox_id, b"\x00\xffnot mail at all", uid=20)

    assert first.outcome is Outcome.REJECTED
    assert first.reason == "the message has no header fields, so it is not an email message"
    assert again == first


async def test_second_start_finds_the_schema_migrated(database_url: str, amqp_url: str, ingestor: IngestorApp) -> None:
    async with IngestorApp(settings(database_url, amqp_url)):
        pass
