"""fetching.MessageFetcher with a fake folder, fake rows and a fake bus: what a cycle stores, publishes and
where it leaves the checkpoint; known, vanished, unreadable, too large and unservable messages; failed
stores and publishes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import structlog

from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.fetching import MAX_READ_ATTEMPTS, MessageFetcher
from intake.fetcher.headers import summarize
from intake.fetcher.publishing import Publisher
from intake.fetcher.repository import NewMessage
from intake.shared import topology
from intake.shared.contracts import FetchedBatch, MessageFetched
from intake.shared.imap_errors import ImapTimeout
from tests.fakes.inbox_records import FakeInboxRecords
from tests.fakes.mailbox import FakeMailbox
from tests.fakes.publisher import FakePublisher, Unconfirmed
from tests.unit.fetcher.conftest import mail

START = Checkpoint(7, 0)


def fetcher_for(
    records: FakeInboxRecords, publisher: Publisher, *, per_cycle: int = 500, max_bytes: int = 1024 * 1024
) -> MessageFetcher:
    return MessageFetcher(
        records,
        publisher,
        structlog.get_logger().bind(inbox_id=1),
        max_messages_per_cycle=per_cycle,
        max_message_bytes=max_bytes,
    )


@pytest.fixture
def fetcher(records: FakeInboxRecords, publisher: Publisher) -> MessageFetcher:
    return fetcher_for(records, publisher)


def fetched_uids(events: FakePublisher) -> list[list[int]]:
    """The UIDs of each event on `message.fetched`, one list per publish."""
    published: list[list[int]] = []
    for event in events.events(topology.MESSAGE_FETCHED):
        if isinstance(event, FetchedBatch):
            published.append([entry.fetched.uid for entry in event.messages])
        else:
            assert isinstance(event, MessageFetched)
            published.append([event.uid])
    return published


async def test_new_messages_are_stored_published_as_one_batch_and_the_checkpoint_advances(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    arrived = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    for n in (1, 2, 3):
        mailbox.deliver(mail(n), internal_date=arrived)

    checkpoint, more = await fetcher.fetch_new(mailbox, START)

    assert (checkpoint, more) == (Checkpoint(7, 3), False)
    assert records.checkpoint == Checkpoint(7, 3)
    assert records.uids("published") == [1, 2, 3]
    assert records.row(2).raw == mail(2)
    (batch,) = events.events(topology.MESSAGE_FETCHED)
    assert isinstance(batch, FetchedBatch)
    assert [entry.fetched.message_id for entry in batch.messages] == [f"<{n}@example.com>" for n in (1, 2, 3)]
    assert {entry.fetched.received_at for entry in batch.messages} == {arrived}
    assert [entry.correlation_id for entry in batch.messages] == [
        records.row(n).fetched.correlation_id for n in (1, 2, 3)
    ]
    assert mailbox.flags(1) == set()  # fetched without \Seen


async def test_nothing_new_leaves_everything_as_it_was(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    mailbox.deliver(mail(1))
    assert await fetcher.fetch_new(mailbox, Checkpoint(7, 1)) == (Checkpoint(7, 1), False)
    assert records.rows == {}
    assert records.checkpoint is None
    assert events.published == []


async def test_known_uids_are_skipped_and_never_published_again(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    for n in (1, 2):
        mailbox.deliver(mail(n))
    # Stored by an earlier owner that stopped before saving a checkpoint past it.
    await records.store_messages(7, [NewMessage(1, mail(1), summarize(mail(1)))], START)
    await records.mark_published([records.row(1).fetched.id])

    assert await fetcher.fetch_new(mailbox, START) == (Checkpoint(7, 2), False)

    assert fetched_uids(events) == [[2]]
    assert records.uids() == [1, 2]


async def test_more_than_a_cycle_holds_says_more_are_waiting(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, publisher: Publisher
) -> None:
    fetcher = fetcher_for(records, publisher, per_cycle=2)
    for n in (1, 2, 3):
        mailbox.deliver(mail(n))

    assert await fetcher.fetch_new(mailbox, START) == (Checkpoint(7, 2), True)
    assert await fetcher.fetch_new(mailbox, Checkpoint(7, 2)) == (Checkpoint(7, 3), False)
    assert fetched_uids(events) == [[1, 2], [3]]


async def test_a_first_scan_takes_only_the_unread_mail_below_its_ceiling(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    mailbox.deliver(mail(1), seen=True)
    mailbox.deliver(mail(2))
    mailbox.deliver(mail(3), seen=True)
    mailbox.deliver(mail(4))  # arrived after the first connection (UIDNEXT was 4)

    checkpoint, _ = await fetcher.fetch_new(mailbox, Checkpoint(7, 0, initial_scan_until=3))
    assert checkpoint == Checkpoint(7, 3)  # the read ones below the ceiling are passed over for good
    assert records.checkpoint == Checkpoint(7, 3)
    await fetcher.fetch_new(mailbox, checkpoint)
    assert fetched_uids(events) == [[2], [4]]


async def test_a_failed_publish_leaves_them_stored_and_republish_sends_them_later(
    mailbox: FakeMailbox,
    records: FakeInboxRecords,
    events: FakePublisher,
    publisher: Publisher,
    fetcher: MessageFetcher,
) -> None:
    for n in (1, 2):
        mailbox.deliver(mail(n))
    events.failing.add(topology.MESSAGE_FETCHED)

    with pytest.raises(Unconfirmed):
        await fetcher.fetch_new(mailbox, START)

    assert records.uids("stored") == [1, 2]
    assert records.checkpoint == Checkpoint(7, 2)  # stored with them: never fetched a second time
    assert events.published == []

    events.failing.clear()
    await publisher.republish()
    assert records.uids("published") == [1, 2]
    assert fetched_uids(events) == [[1, 2]]
    assert await fetcher.fetch_new(mailbox, Checkpoint(7, 2)) == (Checkpoint(7, 2), False)
    assert fetched_uids(events) == [[1, 2]]


async def test_a_failed_store_saves_nothing_and_publishes_nothing(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    mailbox.deliver(mail(1))
    records.store_error = ConnectionError("database gone")

    with pytest.raises(ConnectionError, match="database gone"):
        await fetcher.fetch_new(mailbox, START)

    assert records.rows == {}
    assert records.checkpoint is None
    assert events.published == []


async def test_a_refused_batch_fetch_reads_each_message_alone(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    for n in (1, 2, 3):
        mailbox.deliver(mail(n))
    mailbox.refuse_batch_fetch = True

    assert await fetcher.fetch_new(mailbox, START) == (Checkpoint(7, 3), False)
    assert records.uids("published") == [1, 2, 3]
    assert [records.row(n).raw for n in (1, 2, 3)] == [mail(1), mail(2), mail(3)]


async def test_a_message_gone_before_its_fetch_is_passed_over(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    for n in (1, 2):
        mailbox.deliver(mail(n))
    mailbox.vanishing.add(1)  # another client expunges it between the listing and the FETCH

    assert await fetcher.fetch_new(mailbox, START) == (Checkpoint(7, 2), False)
    assert records.uids() == [2]
    assert records.attempts == {}


async def test_an_unreadable_message_is_counted_and_then_stored_as_rejected_with_its_header(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    for n in (1, 2):
        mailbox.deliver(mail(n))
    mailbox.bodiless.add(1)  # it exists, but the server's answer holds no body

    for attempt in range(1, MAX_READ_ATTEMPTS):
        # Read again next cycle: the checkpoint stays below it, the message after it is stored once.
        assert await fetcher.fetch_new(mailbox, START) == (START, False)
        assert records.attempts[(7, 1)].attempts == attempt
        assert records.uids() == [2]

    assert await fetcher.fetch_new(mailbox, START) == (Checkpoint(7, 2), False)

    rejected = records.row(1)
    assert rejected.state == "published"
    assert rejected.fetched.rejected is not None
    assert rejected.fetched.rejected == (
        "unreadable: the server's answer to FETCH could not be read after "
        f"{MAX_READ_ATTEMPTS} attempts (its FETCH answer held no body)"
    )
    assert rejected.raw == mail(1).split(b"\r\n\r\n")[0] + b"\r\n\r\n"  # only its header
    assert rejected.fetched.size == len(mail(1))
    assert rejected.fetched.message_id == "<1@example.com>"
    assert records.attempts == {}  # forgotten once stored
    assert fetched_uids(events) == [[2], [1]]


async def test_a_message_that_ends_the_connection_each_time_is_rejected_without_another_try(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, fetcher: MessageFetcher
) -> None:
    mailbox.deliver(mail(1))
    mailbox.fetch_errors[1] = ImapTimeout("fetch", "no answer within 30 s")

    for attempt in range(1, MAX_READ_ATTEMPTS + 1):
        with pytest.raises(ImapTimeout):  # the session reconnects
            await fetcher.fetch_new(mailbox, START)
        assert records.attempts[(7, 1)].attempts == attempt

    assert await fetcher.fetch_new(mailbox, START) == (Checkpoint(7, 1), False)

    rejected = records.row(1)
    assert rejected.fetched.rejected == (
        f"unreadable: fetching it failed {MAX_READ_ATTEMPTS} times (last: fetch: no answer within 30 s)"
    )
    assert rejected.raw == b""
    assert rejected.fetched.size == len(mail(1))
    assert fetched_uids(events) == [[1]]


async def test_a_too_large_message_is_stored_as_rejected_with_its_header_only(
    mailbox: FakeMailbox, records: FakeInboxRecords, events: FakePublisher, publisher: Publisher
) -> None:
    fetcher = fetcher_for(records, publisher, max_bytes=2048)
    big = mail(1, b"x" * 4096)
    mailbox.deliver(big)
    mailbox.deliver(mail(2))

    assert await fetcher.fetch_new(mailbox, START) == (Checkpoint(7, 2), False)

    rejected = records.row(1)
    assert rejected.fetched.rejected == f"too large: {len(big)} bytes, the limit is 2048 bytes"
    assert rejected.raw == big.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert rejected.fetched.size == len(big)
    assert records.row(2).fetched.rejected is None
    assert records.uids("published") == [1, 2]
    assert mailbox.flags(1) == set()  # left in the mailbox, untouched
