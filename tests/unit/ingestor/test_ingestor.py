"""`Ingestor` on the fake issue store (tests/fakes/issue_store.py): the outcome of each kind of message,
repeats and replays, rejections, an unreachable store, and the batch path deciding as the one-message
path does. The same rules on real PostgreSQL: tests/integration/ingestor/test_ingest.py."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from intake.ingestor.errors import DatabaseUnavailable
from intake.ingestor.ingest import Ingestor
from intake.ingestor.limits import AttachmentLimits
from intake.ingestor.results import Result
from intake.shared.contracts import IssueEventKind, MessageFetched, Outcome
from intake.shared.inbox_vocabulary import UnmatchedAction
from tests.fakes.issue_store import FakeIssueStore, policy
from tests.support.mail import make_mail

INBOX = 1
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


class Mailbox:
    """Raw mail into the fake's blobs, as `MessageFetched` with increasing UIDs (as the fetcher sends)."""

    def __init__(self, store: FakeIssueStore) -> None:
        self._store = store
        self._uids = itertools.count(1)

    def fetched(
        self,
        raw: bytes,
        *,
        inbox_id: int = INBOX,
        uid: int | None = None,
        rejected: str | None = None,
        replay: bool = False,
    ) -> MessageFetched:
        return MessageFetched(
            inbox_id=inbox_id,
            uidvalidity=1000,
            uid=next(self._uids) if uid is None else uid,
            raw_sha256=self._store.put_raw(raw),
            size=len(raw),
            fetched_at=NOW,
            rejected=rejected,
            replay=replay,
        )


@pytest.fixture
def store() -> FakeIssueStore:
    store = FakeIssueStore()
    store.inboxes[INBOX] = policy()
    return store


@pytest.fixture
def mailbox(store: FakeIssueStore) -> Mailbox:
    return Mailbox(store)


def ingestor_on(store: FakeIssueStore, limits: AttachmentLimits | None = None) -> Ingestor:
    return Ingestor(store, clock=lambda: NOW, limits=limits)


@pytest.fixture
def ingestor(store: FakeIssueStore) -> Ingestor:
    return ingestor_on(store)


async def test_a_new_message_creates_an_issue_with_its_attachment(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    fetched = mailbox.fetched(
        make_mail("Printer on fire", "<new-1@x>", attachments=(("invoice.pdf", "application/pdf", PDF),))
    )

    result = await ingestor.process(fetched, 1)

    processed = result.processed
    assert (processed.outcome, processed.issue_number, processed.message_id) == (Outcome.ISSUE_CREATED, 1, "<new-1@x>")
    assert processed.reason == "no issue matched (subject has no issue tag like [#42]): created a new issue"
    assert (processed.attempts, processed.processed_at) == (1, NOW)
    assert result.event is not None
    assert (result.event.kind, result.event.issue_number, result.event.title) == (
        IssueEventKind.CREATED,
        1,
        "Printer on fire",
    )
    issue = store.tables.issues[1]
    assert (issue.title, issue.requester_email, issue.inbox_id, issue.policy) == (
        "Printer on fire",
        "alice@example.com",
        INBOX,
        store.inboxes[INBOX],
    )
    [message] = store.messages_on(1)
    assert message.attachments == [("invoice.pdf", "application/pdf", store.put_raw(PDF))]
    assert store.tables.outcomes[(INBOX, 1000, fetched.uid)] == processed


async def test_a_reply_tagged_with_the_issue_number_is_appended(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    await ingestor.process(mailbox.fetched(make_mail("Printer on fire", "<a-1@x>")), 1)

    result = await ingestor.process(mailbox.fetched(make_mail("Re: Printer on fire [#1]", "<a-2@x>")), 1)

    assert (result.processed.outcome, result.processed.issue_number) == (Outcome.ISSUE_UPDATED, 1)
    assert result.processed.reason == "subject tag [#1] names issue #1"
    assert result.event is not None
    assert (result.event.kind, result.event.title) == (IssueEventKind.UPDATED, "Printer on fire")
    assert [m.message_id for m in store.messages_on(1)] == ["<a-1@x>", "<a-2@x>"]
    assert store.tables.issues[1].updates == 1


async def test_a_tag_naming_no_issue_creates_a_new_one(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    result = await ingestor.process(mailbox.fetched(make_mail("Re: [#999] old ticket", "<b-1@x>")), 1)

    assert (result.processed.outcome, result.processed.issue_number) == (Outcome.ISSUE_CREATED, 1)
    assert "which does not exist" in result.processed.reason


async def test_a_reply_joins_the_issue_of_a_message_it_references(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    await ingestor.process(mailbox.fetched(make_mail("Question", "<t-1@x>")), 1)

    result = await ingestor.process(mailbox.fetched(make_mail("Re: Question", "<t-2@x>", references=("<t-1@x>",))), 1)

    assert (result.processed.outcome, result.processed.issue_number) == (Outcome.ISSUE_UPDATED, 1)
    assert result.processed.reason == "In-Reply-To names <t-1@x>, which is on issue #1"
    assert len(store.tables.issues) == 1


async def test_a_reply_joins_the_issue_its_thread_root_is_tied_to(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    # The thread's root never reached us; the first message we got ties it to the issue it created.
    first = await ingestor.process(
        mailbox.fetched(make_mail("Re: Question", "<r-2@x>", references=("<r-root@elsewhere>",))), 1
    )

    reply = await ingestor.process(
        mailbox.fetched(make_mail("Re: Question", "<r-3@x>", references=("<r-root@elsewhere>",))), 1
    )

    assert first.processed.outcome is Outcome.ISSUE_CREATED
    assert store.tables.threads == {(INBOX, "<r-root@elsewhere>"): 1}
    assert (reply.processed.outcome, reply.processed.issue_number) == (Outcome.ISSUE_UPDATED, 1)
    assert reply.processed.reason == "In-Reply-To names <r-root@elsewhere>, whose thread is on issue #1"


async def test_an_ignored_sender_is_skipped_even_with_a_tag(store: FakeIssueStore, mailbox: Mailbox) -> None:
    store.inboxes[INBOX] = policy(ignored_senders=("@SpamDomain.com",))
    ingestor = ingestor_on(store)
    await ingestor.process(mailbox.fetched(make_mail("Hello", "<g-0@x>")), 1)

    spam = await ingestor.process(
        mailbox.fetched(make_mail("Re: [#1] buy now", "<g-1@x>", sender="Bob <Bob@spamdomain.com>")), 1
    )

    assert spam == Result(spam.processed)
    assert (spam.processed.outcome, spam.processed.issue_number) == (Outcome.IGNORED_SENDER, None)
    assert spam.processed.reason == "sender bob@spamdomain.com matches the ignored sender @SpamDomain.com"
    assert len(store.messages_on(1)) == 1


async def test_an_auto_reply_creates_no_issue_but_joins_a_matched_one(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    auto = (("Auto-Submitted", "auto-replied"),)
    await ingestor.process(mailbox.fetched(make_mail("Printer on fire", "<h-1@x>")), 1)

    unmatched = await ingestor.process(mailbox.fetched(make_mail("Out of office", "<h-2@x>", headers=auto)), 1)
    tagged = await ingestor.process(mailbox.fetched(make_mail("Out of office: [#1]", "<h-3@x>", headers=auto)), 1)

    assert unmatched == Result(unmatched.processed)
    assert unmatched.processed.outcome is Outcome.AUTO_GENERATED
    assert unmatched.processed.reason == (
        "auto-generated mail (Auto-Submitted: auto-replied) that matches no issue (subject has no issue tag like [#42])"
    )
    assert (tagged.processed.outcome, tagged.processed.issue_number) == (Outcome.ISSUE_UPDATED, 1)
    assert len(store.tables.issues) == 1


async def test_unmatched_mail_of_an_ignoring_inbox_is_skipped(store: FakeIssueStore, mailbox: Mailbox) -> None:
    store.inboxes[INBOX] = policy(UnmatchedAction.IGNORE)

    result = await ingestor_on(store).process(mailbox.fetched(make_mail("Hello", "<e-1@x>")), 1)

    assert result == Result(result.processed)
    assert result.processed.outcome is Outcome.UNMATCHED_IGNORED
    assert result.processed.reason == (
        "no issue matched (subject has no issue tag like [#42]) and the inbox ignores unmatched mail"
    )
    assert store.tables.issues == {}


async def test_the_same_message_again_re_emits_its_stored_outcome(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    fetched = mailbox.fetched(make_mail("Twice", "<c-1@x>"))
    first = await ingestor.process(fetched, 1)

    again = await ingestor.process(fetched, 2)

    assert again == first
    assert again.event is not None  # the issue event again: at least once.
    assert len(store.tables.issues) == 1
    assert len(store.tables.messages) == 1


async def test_the_same_message_id_under_another_uid_is_a_duplicate(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    raw = make_mail("Copied", "<d-1@x>")
    await ingestor.process(mailbox.fetched(raw, uid=10), 1)

    second = await ingestor.process(mailbox.fetched(raw, uid=11), 1)

    assert (second.processed.outcome, second.processed.issue_number, second.event) == (Outcome.DUPLICATE, 1, None)
    assert second.processed.reason == "Message-ID <d-1@x> is already stored on issue #1 for this inbox"
    assert len(store.tables.messages) == 1


async def test_a_replay_decides_a_skipped_message_again(store: FakeIssueStore, mailbox: Mailbox) -> None:
    store.inboxes[INBOX] = policy(UnmatchedAction.IGNORE)
    ingestor = ingestor_on(store)
    raw = make_mail("Hello", "<p-1@x>")
    skipped = await ingestor.process(mailbox.fetched(raw, uid=30), 1)
    assert await ingestor.process(mailbox.fetched(raw, uid=30), 1) == skipped
    store.inboxes[INBOX] = policy(UnmatchedAction.CREATE_ISSUE)

    replayed = await ingestor.process(mailbox.fetched(raw, uid=30, replay=True), 1)

    assert skipped.processed.outcome is Outcome.UNMATCHED_IGNORED
    assert replayed.processed.outcome is Outcome.ISSUE_CREATED
    assert store.tables.outcomes[(INBOX, 1000, 30)] == replayed.processed


async def test_a_replay_of_a_message_on_an_issue_re_emits_it(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    raw = make_mail("Hello", "<p-2@x>")
    created = await ingestor.process(mailbox.fetched(raw, uid=31), 1)

    replayed = await ingestor.process(mailbox.fetched(raw, uid=31, replay=True), 1)

    assert replayed == created
    assert len(store.tables.issues) == 1


async def test_a_replay_of_a_rejection_decides_again(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    missing = mailbox.fetched(b"unused", uid=32).model_copy(update={"raw_sha256": "0" * 64})
    rejected = await ingestor.process(missing, 1)

    replayed = await ingestor.process(mailbox.fetched(make_mail("Hello", "<p-3@x>"), uid=32, replay=True), 1)

    assert rejected.processed.outcome is Outcome.REJECTED
    assert replayed.processed.outcome is Outcome.ISSUE_CREATED


async def test_a_missing_raw_message_is_rejected(store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor) -> None:
    fetched = mailbox.fetched(b"unused").model_copy(update={"raw_sha256": "0" * 64})

    result = await ingestor.process(fetched, 3)

    assert result == Result(result.processed)
    assert (result.processed.outcome, result.processed.attempts) == (Outcome.REJECTED, 3)
    assert result.processed.reason == f"the raw message {'0' * 64} is not in the blob store"
    assert store.tables.outcomes[(INBOX, 1000, fetched.uid)] == result.processed


async def test_a_message_of_an_unknown_inbox_is_rejected(mailbox: Mailbox, ingestor: Ingestor) -> None:
    result = await ingestor.process(mailbox.fetched(make_mail("Hello", "<f-1@x>"), inbox_id=99), 1)

    assert result.processed.outcome is Outcome.REJECTED
    assert result.processed.reason == "inbox 99 no longer exists"


async def test_an_unreadable_message_is_rejected_once(mailbox: Mailbox, ingestor: Ingestor) -> None:
    fetched = mailbox.fetched(b"\x00\xffnot mail at all")

    first = await ingestor.process(fetched, 1)
    again = await ingestor.process(fetched, 2)

    assert first.processed.outcome is Outcome.REJECTED
    assert first.processed.reason == "the message has no header fields, so it is not an email message"
    assert again == first


async def test_attachments_over_the_limits_reject_the_message(store: FakeIssueStore, mailbox: Mailbox) -> None:
    ingestor = ingestor_on(store, limits=AttachmentLimits(max_attachment_bytes=4096, max_message_attachment_bytes=6000))
    big = make_mail("Big", "<big-1@x>", attachments=(("dump.bin", "application/octet-stream", b"x" * 4097),))
    part = b"y" * 3500
    many = make_mail(
        "Many",
        "<many-1@x>",
        attachments=(("a.bin", "application/octet-stream", part), ("b.bin", "application/octet-stream", part)),
    )

    one = await ingestor.process(mailbox.fetched(big), 1)
    together = await ingestor.process(mailbox.fetched(many), 1)

    assert one.processed.outcome is Outcome.REJECTED
    assert one.processed.reason == (
        "attachment 'dump.bin' is 4.0 KiB (4097 bytes), over the limit of 4.0 KiB (4096 bytes) per attachment"
    )
    assert together.processed.outcome is Outcome.REJECTED
    assert together.processed.reason == (
        "the attachments total 6.8 KiB (7000 bytes), over the limit of 5.9 KiB (6000 bytes) per message "
        "(largest: 'a.bin' 3.4 KiB (3500 bytes))"
    )
    assert store.tables.issues == {}


async def test_a_message_the_fetcher_rejected_is_recorded_rejected_without_parsing(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    reason = "the message is 31457280 bytes, larger than the limit of 26214400 bytes"
    # A header alone would parse and create an issue if it were parsed.
    header_only = b"From: alice@example.com\r\nSubject: Huge\r\nMessage-ID: <big@x>\r\n\r\n"

    result = await ingestor.process(mailbox.fetched(header_only, rejected=reason), 1)

    assert (result.processed.outcome, result.processed.reason, result.processed.issue_number) == (
        Outcome.REJECTED,
        reason,
        None,
    )
    assert result.processed.message_id is None
    assert store.tables.issues == {}
    assert store.tables.outcomes[(INBOX, 1000, result.processed.uid)] == result.processed


async def test_an_unreachable_store_is_database_unavailable(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    fetched = mailbox.fetched(make_mail("Hello", "<u-1@x>"))
    store.unreachable = True

    with pytest.raises(DatabaseUnavailable, match="ConnectionRefusedError"):
        await ingestor.process(fetched, 1)
    with pytest.raises(DatabaseUnavailable, match="ConnectionRefusedError"):
        await ingestor.process_batch([(fetched, 1)])

    store.unreachable = False
    assert (await ingestor.process(fetched, 1)).processed.outcome is Outcome.ISSUE_CREATED


async def test_a_failing_statement_rolls_the_message_back_and_raises(
    store: FakeIssueStore, mailbox: Mailbox, ingestor: Ingestor
) -> None:
    await ingestor.process(mailbox.fetched(make_mail("Printer on fire", "<x-1@x>")), 1)
    store.refuse = "poison"
    poison = mailbox.fetched(make_mail("Re: [#1] poison", "<x-2@x>"))

    with pytest.raises(RuntimeError, match="refused"):
        await ingestor.process(poison, 1)

    assert store.rollbacks == 1
    assert store.tables.issues[1].updates == 0
    assert (INBOX, 1000, poison.uid) not in store.tables.outcomes


def conversation() -> list[bytes]:
    """After issue #1 (`<m-1@x>`): a new issue, a tagged reply, a reply by thread, an auto-reply, an
    ignored sender and a copy of `<m-1@x>`."""
    return [
        make_mail("Invoice", "<m-2@x>", attachments=(("invoice.pdf", "application/pdf", PDF),)),
        make_mail("Re: [#1] still burning", "<m-3@x>"),
        make_mail("Re: Invoice", "<m-4@x>", references=("<m-2@x>",)),
        make_mail("Away", "<m-5@x>", headers=(("Auto-Submitted", "auto-replied"),)),
        make_mail("Buy now", "<m-6@x>", sender="spam@spam.example"),
        make_mail("Printer on fire", "<m-1@x>"),
    ]


async def through_batches(ingestor: Ingestor, fetched: list[MessageFetched]) -> tuple[list[Result], int]:
    """Each message's result as the batch handler gets it: what a batch defers goes into the next batch,
    what it leaves to the one-message path goes there; and how many results came from batches."""
    results: dict[int, Result] = {}
    from_batches = 0
    pending = list(range(len(fetched)))
    while pending:
        outcome = await ingestor.process_batch([(fetched[i], 1) for i in pending])
        from_batches += len(outcome.results)
        results.update({pending[p]: result for p, result in outcome.results.items()})
        for p in outcome.single:
            results[pending[p]] = await ingestor.process(fetched[pending[p]], 1)
        pending = [pending[p] for p in outcome.deferred]
    return [results[i] for i in range(len(fetched))], from_batches


async def fetched_after_issue_1(store: FakeIssueStore, raws: list[bytes]) -> list[MessageFetched]:
    """`store` with the inbox and issue #1 (`<m-1@x>`); `raws` fetched into it after that."""
    store.inboxes[INBOX] = policy(ignored_senders=("@spam.example",))
    mailbox = Mailbox(store)
    await ingestor_on(store).process(mailbox.fetched(make_mail("Printer on fire", "<m-1@x>")), 1)
    return [mailbox.fetched(raw) for raw in raws]


async def test_the_batch_path_decides_as_the_one_message_path_does() -> None:
    raws = conversation()
    one_by_one, batched = FakeIssueStore(), FakeIssueStore()
    ingestor = ingestor_on(one_by_one)
    expected = [await ingestor.process(item, 1) for item in await fetched_after_issue_1(one_by_one, raws)]

    results, from_batches = await through_batches(ingestor_on(batched), await fetched_after_issue_1(batched, raws))

    assert [r.processed.outcome for r in expected] == [
        Outcome.ISSUE_CREATED,
        Outcome.ISSUE_UPDATED,
        Outcome.ISSUE_UPDATED,
        Outcome.AUTO_GENERATED,
        Outcome.IGNORED_SENDER,
        Outcome.DUPLICATE,
    ]
    assert results == expected
    assert from_batches == len(expected)
    assert batched.tables == one_by_one.tables
