"""The ingestor end to end on real PostgreSQL and RabbitMQ: `message.fetched` in, issues and `message.processed` out."""

from __future__ import annotations

import hashlib

import asyncpg

from intake.ingestor.app import IngestorApp
from intake.shared.blobs import get_blob
from intake.shared.contracts import IssueEventKind, Outcome
from tests.integration.ingestor.conftest import FetcherSide, Mailroom, MakeInbox, settings
from tests.support.mail import make_mail

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
    db: asyncpg.Connection, mailroom: Mailroom, fetcher_side: FetcherSide, inbox_id: int
) -> None:
    fetched = await mailroom.fetched(inbox_id, make_mail("Twice", "<c-1@example.com>"))

    await fetcher_side.publish(fetched)
    first = await fetcher_side.next_processed()
    await fetcher_side.publish(fetched)
    second = await fetcher_side.next_processed()

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
    db: asyncpg.Connection, mailroom: Mailroom, fetcher_side: FetcherSide, inbox_id: int
) -> None:
    fetched = (await mailroom.fetched(inbox_id, b"unused")).model_copy(update={"raw_sha256": "0" * 64})

    await fetcher_side.publish(fetched)
    processed = await fetcher_side.next_processed()

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


async def test_ignored_sender_is_skipped_with_the_entry(
    db: asyncpg.Connection, mailroom: Mailroom, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox(ignored_senders=("newsletter@shop.example", "@SpamDomain.com"))
    created = await mailroom.deliver(inbox_id, make_mail("Hello", "<g-0@example.com>"))

    spam = await mailroom.deliver(
        inbox_id, make_mail(f"Re: [#{created.issue_number}] buy now", "<g-1@x>", sender="Bob <Bob@spamdomain.com>")
    )
    near_miss = await mailroom.deliver(inbox_id, make_mail("Hi", "<g-2@x>", sender="bob@spamdomain.community"))

    assert spam.outcome is Outcome.IGNORED_SENDER
    assert spam.reason == "sender bob@spamdomain.com matches the ignored sender @SpamDomain.com"
    assert spam.issue_number is None
    assert near_miss.outcome is Outcome.ISSUE_CREATED
    assert await counts(db) == (2, 2)


AUTO_REPLY = (("Auto-Submitted", "auto-replied"),)


async def test_auto_reply_creates_no_issue_but_joins_a_matched_one(
    db: asyncpg.Connection, mailroom: Mailroom, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox()
    created = await mailroom.deliver(inbox_id, make_mail("Printer on fire", "<h-1@example.com>"))

    unmatched = await mailroom.deliver(inbox_id, make_mail("Out of office", "<h-2@x>", headers=AUTO_REPLY))
    tagged = await mailroom.deliver(
        inbox_id, make_mail(f"Out of office: [#{created.issue_number}]", "<h-3@x>", headers=AUTO_REPLY)
    )
    bounce = await mailroom.deliver(
        inbox_id,
        make_mail(
            "Undeliverable: Printer", "<h-4@x>", headers=(("Return-Path", "<>"),), references=("<h-1@example.com>",)
        ),
    )
    bulk = await mailroom.deliver(inbox_id, make_mail("Newsletter", "<h-5@x>", headers=(("Precedence", "bulk"),)))

    assert unmatched.outcome is Outcome.AUTO_GENERATED
    assert unmatched.reason == (
        "auto-generated mail (Auto-Submitted: auto-replied) that matches no issue (subject has no issue tag like [#42])"
    )
    assert tagged.outcome is Outcome.ISSUE_UPDATED
    assert tagged.issue_number == created.issue_number
    assert bounce.outcome is Outcome.ISSUE_UPDATED
    assert bounce.issue_number == created.issue_number
    assert "Return-Path: <>" in bounce.reason
    assert bulk.outcome is Outcome.AUTO_GENERATED
    assert "Precedence: bulk" in bulk.reason
    assert await counts(db) == (1, 3)


async def test_auto_reply_is_auto_generated_even_when_the_inbox_ignores_unmatched_mail(
    mailroom: Mailroom, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox(unmatched_action="ignore")
    processed = await mailroom.deliver(inbox_id, make_mail("Away", "<h-9@x>", headers=(("X-Autoreply", "yes"),)))
    assert processed.outcome is Outcome.AUTO_GENERATED


async def test_reply_joins_the_issue_of_any_message_it_references(
    db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int
) -> None:
    # The thread's root never reached us: the customer's first mail went elsewhere.
    first = await mailroom.deliver(
        inbox_id, make_mail("Re: Question", "<r-2@x>", references=("<r-root@elsewhere>", "<r-1@elsewhere>"))
    )
    # A later reply whose References list starts at another root, but names <r-2@x>.
    reply = await mailroom.deliver(
        inbox_id, make_mail("Re: Question", "<r-3@x>", references=("<r-other-root@x>", "<r-2@x>"))
    )
    in_reply_to_only = await mailroom.deliver(inbox_id, make_mail("Re: Question", "<r-4@x>", references=("<r-3@x>",)))

    assert first.outcome is Outcome.ISSUE_CREATED
    assert (reply.outcome, reply.issue_number) == (Outcome.ISSUE_UPDATED, first.issue_number)
    assert reply.reason == f"In-Reply-To names <r-2@x>, which is on issue #{first.issue_number}"
    assert (in_reply_to_only.outcome, in_reply_to_only.issue_number) == (Outcome.ISSUE_UPDATED, first.issue_number)
    assert await counts(db) == (1, 3)


async def test_references_match_only_within_the_inbox(
    db: asyncpg.Connection, mailroom: Mailroom, make_inbox: MakeInbox
) -> None:
    support, sales = await make_inbox(), await make_inbox()
    original = await mailroom.deliver(support, make_mail("Question", "<s-1@x>"))

    elsewhere = await mailroom.deliver(sales, make_mail("Re: Question", "<s-2@x>", references=("<s-1@x>",)))

    assert elsewhere.outcome is Outcome.ISSUE_CREATED
    assert elsewhere.issue_number != original.issue_number
    # The subject tag is not per inbox: issue numbers are global.
    tagged = await mailroom.deliver(sales, make_mail(f"Re: [#{original.issue_number}]", "<s-3@x>"))
    assert (tagged.outcome, tagged.issue_number) == (Outcome.ISSUE_UPDATED, original.issue_number)


async def test_new_issue_gets_the_inbox_defaults(
    db: asyncpg.Connection, mailroom: Mailroom, make_inbox: MakeInbox
) -> None:
    user = await db.fetchval("INSERT INTO config.users (name) VALUES ('Ada') RETURNING id")
    organisation = await db.fetchval("INSERT INTO config.organisations (name) VALUES ('ACME') RETURNING id")
    inbox_id = await make_inbox(default_language="de", assigned_user_id=user, assigned_organisation_id=organisation)

    processed = await mailroom.deliver(inbox_id, make_mail("Drucker brennt", "<u-1@x>"))

    issue = await db.fetchrow("SELECT * FROM tracker.issue_view WHERE number = $1", processed.issue_number)
    assert (issue["language"], issue["assigned_user_id"], issue["assigned_organisation_id"]) == (
        "de",
        user,
        organisation,
    )
    assert issue["issue_type_id"] == await db.fetchval("SELECT id FROM config.issue_types WHERE name = 'Support'")


async def test_message_the_fetcher_rejected_is_rejected_without_parsing(
    db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int
) -> None:
    reason = "the message is 31457280 bytes, larger than the limit of 26214400 bytes"
    # The blob holds only the header; a header alone would parse and create an issue if it were parsed.
    header_only = b"From: alice@example.com\r\nSubject: Huge\r\nMessage-ID: <big@x>\r\n\r\n"

    processed = await mailroom.deliver(inbox_id, header_only, rejected=reason)

    assert processed.outcome is Outcome.REJECTED
    assert processed.reason == reason
    assert processed.issue_number is None
    assert await counts(db) == (0, 0)
    assert await db.fetchval("SELECT reason FROM tracker.outcomes WHERE uid = $1", processed.uid) == reason


async def test_replay_decides_a_skipped_message_again(
    db: asyncpg.Connection, mailroom: Mailroom, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox(unmatched_action="ignore")
    raw = make_mail("Hello", "<p-1@x>")
    skipped = await mailroom.deliver(inbox_id, raw, uid=30)
    # Redelivered without replay: the stored skip is re-emitted.
    assert await mailroom.deliver(inbox_id, raw, uid=30) == skipped
    await db.execute("UPDATE config.inboxes SET unmatched_action = 'create_issue' WHERE id = $1", inbox_id)

    replayed = await mailroom.deliver(inbox_id, raw, uid=30, replay=True)

    assert skipped.outcome is Outcome.UNMATCHED_IGNORED
    assert replayed.outcome is Outcome.ISSUE_CREATED
    assert await db.fetchval("SELECT outcome FROM tracker.outcomes WHERE uid = 30") == "issue_created"
    assert await counts(db) == (1, 1)


async def test_replay_of_a_message_on_an_issue_re_emits_it_and_makes_no_copy(
    db: asyncpg.Connection, mailroom: Mailroom, inbox_id: int
) -> None:
    raw = make_mail("Hello", "<p-2@x>")
    created = await mailroom.deliver(inbox_id, raw, uid=31)

    replayed = await mailroom.deliver(inbox_id, raw, uid=31, replay=True)

    assert replayed == created
    assert await counts(db) == (1, 1)


async def test_replay_of_a_rejection_decides_again(
    db: asyncpg.Connection, mailroom: Mailroom, fetcher_side: FetcherSide, inbox_id: int
) -> None:
    raw = make_mail("Hello", "<p-3@x>")
    missing = (await mailroom.fetched(inbox_id, b"unused", uid=32)).model_copy(update={"raw_sha256": "0" * 64})
    await fetcher_side.publish(missing)
    rejected = await fetcher_side.next_processed()
    assert rejected.outcome is Outcome.REJECTED

    # The blob is back (restored from a backup): the log's reprocess files it.
    replayed = await mailroom.deliver(inbox_id, raw, uid=32, replay=True)

    assert replayed.outcome is Outcome.ISSUE_CREATED
    assert await counts(db) == (1, 1)


async def test_issue_events_follow_created_and_updated_issues(
    mailroom: Mailroom, fetcher_side: FetcherSide, inbox_id: int
) -> None:
    created = await mailroom.deliver(inbox_id, make_mail("Printer on fire", "<ev-1@x>"))
    updated = await mailroom.deliver(inbox_id, make_mail(f"Re: [#{created.issue_number}]", "<ev-2@x>"))
    await mailroom.deliver(inbox_id, make_mail("Away", "<ev-3@x>", headers=AUTO_REPLY))

    first_key, first = await fetcher_side.next_event()
    second_key, second = await fetcher_side.next_event()

    assert first_key == "issue.created"
    assert first.kind is IssueEventKind.CREATED
    assert (first.issue_number, first.inbox_id, first.message_id) == (created.issue_number, inbox_id, "<ev-1@x>")
    assert first.title == "Printer on fire"
    assert first.occurred_at == created.processed_at
    assert second_key == "issue.updated"
    assert (second.kind, second.issue_number, second.message_id) == (
        IssueEventKind.UPDATED,
        updated.issue_number,
        "<ev-2@x>",
    )
    assert second.title == "Printer on fire"
    # A skip publishes no event.
    assert fetcher_side.events.empty()


async def test_subject_tag_pattern_is_a_deployment_setting(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox()
    pattern = r"\(case (?P<number>[0-9]+)\)"
    async with IngestorApp(settings(database_url, amqp_url, subject_tag_pattern=pattern)):
        fetcher_side = FetcherSide(amqp_url)
        await fetcher_side.broker.start()
        try:
            mailroom = Mailroom(db, fetcher_side)
            created = await mailroom.deliver(inbox_id, make_mail("Help", "<k-1@x>"))
            number = created.issue_number
            by_custom_tag = await mailroom.deliver(inbox_id, make_mail(f"Re: (case {number})", "<k-2@x>"))
            by_default_tag = await mailroom.deliver(inbox_id, make_mail(f"Re: [#{number}]", "<k-3@x>"))
        finally:
            await fetcher_side.broker.stop()

    assert (by_custom_tag.outcome, by_custom_tag.issue_number) == (Outcome.ISSUE_UPDATED, number)
    assert by_default_tag.outcome is Outcome.ISSUE_CREATED
