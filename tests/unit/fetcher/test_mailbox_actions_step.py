"""mailbox_actions.MailboxActions with a fake folder and fake rows: actions done, failed (and in the end
abandoned), abandoned when UIDVALIDITY changed, never an EXPUNGE that could remove what others flagged."""

from __future__ import annotations

import pytest
import structlog

from intake.fetcher.mailbox_actions import MailboxActions
from intake.fetcher.outcome_rules import MAX_ACTION_ATTEMPTS
from intake.shared.inbox_vocabulary import ProcessedAction
from tests.fakes.inbox_records import FakeInboxRecords
from tests.fakes.mailbox import DELETED, SEEN, FakeMailbox
from tests.unit.fetcher.conftest import mail

MARK_READ, DELETE = ProcessedAction.MARK_READ, ProcessedAction.DELETE


@pytest.fixture
def actions(records: FakeInboxRecords) -> MailboxActions:
    return MailboxActions(records, 500, structlog.get_logger().bind(inbox_id=1))


def owed(mailbox: FakeMailbox, records: FakeInboxRecords, action: ProcessedAction, count: int) -> list[int]:
    """`count` messages in the folder, each processed and owing `action`; returns their UIDs."""
    uids = [mailbox.deliver(mail(n)) for n in range(1, count + 1)]
    for uid in uids:
        records.owe(mailbox.uidvalidity, uid, action)
    return uids


async def test_messages_are_marked_read_and_the_actions_recorded_done(
    mailbox: FakeMailbox, records: FakeInboxRecords, actions: MailboxActions
) -> None:
    uids = owed(mailbox, records, MARK_READ, 3)

    await actions.apply_pending(mailbox, mailbox.folder)

    assert [mailbox.flags(uid) for uid in uids] == [{SEEN}] * 3
    assert [records.row(uid).action_state for uid in uids] == ["done"] * 3
    assert await records.pending_actions(500) == []


async def test_a_refused_mark_read_fails_alone_and_the_others_are_done(
    mailbox: FakeMailbox, records: FakeInboxRecords, actions: MailboxActions
) -> None:
    first, refused, last = owed(mailbox, records, MARK_READ, 3)
    mailbox.store_refused.add(refused)

    await actions.apply_pending(mailbox, mailbox.folder)

    assert mailbox.flags(first) == mailbox.flags(last) == {SEEN}
    assert mailbox.flags(refused) == set()
    assert records.row(first).action_state == records.row(last).action_state == "done"
    failed = records.row(refused)
    assert (failed.action_state, failed.action_attempts) == ("pending", 1)  # tried again next cycle
    assert failed.action_error is not None
    assert "cannot store flags" in failed.action_error


async def test_an_action_failing_for_the_last_allowed_time_is_abandoned(
    mailbox: FakeMailbox, records: FakeInboxRecords, actions: MailboxActions
) -> None:
    (uid,) = owed(mailbox, records, DELETE, 1)
    records.row(uid).action_attempts = MAX_ACTION_ATTEMPTS - 1
    mailbox.store_refused.add(uid)

    await actions.apply_pending(mailbox, mailbox.folder)

    row = records.row(uid)
    assert (row.action_state, row.action_attempts) == ("abandoned", MAX_ACTION_ATTEMPTS)
    assert uid in mailbox.messages
    await actions.apply_pending(mailbox, mailbox.folder)  # not tried again
    assert records.row(uid).action_attempts == MAX_ACTION_ATTEMPTS


async def test_delete_expunges_only_that_message(
    mailbox: FakeMailbox, records: FakeInboxRecords, actions: MailboxActions
) -> None:
    (uid,) = owed(mailbox, records, DELETE, 1)
    someone_elses = mailbox.deliver(mail(9))
    mailbox.flags(someone_elses).add(DELETED)  # flagged by another client, not yet expunged

    await actions.apply_pending(mailbox, mailbox.folder)

    assert uid not in mailbox.messages
    assert mailbox.expunged == [uid]
    assert DELETED in mailbox.flags(someone_elses)
    assert records.row(uid).action_state == "done"


async def test_without_uidplus_a_deleted_message_is_left_flagged(
    mailbox: FakeMailbox, records: FakeInboxRecords, actions: MailboxActions
) -> None:
    mailbox.supports_uid_expunge = False
    (uid,) = owed(mailbox, records, DELETE, 1)

    await actions.apply_pending(mailbox, mailbox.folder)

    assert mailbox.flags(uid) == {DELETED}
    assert mailbox.expunged == []
    assert records.row(uid).action_state == "done"


async def test_actions_from_before_a_uidvalidity_change_are_abandoned_untouched(
    mailbox: FakeMailbox, records: FakeInboxRecords, actions: MailboxActions
) -> None:
    old = owed(mailbox, records, DELETE, 2)
    mailbox.renumber(8)  # the same UIDs now name other messages, or none
    current = mailbox.deliver(mail(3))
    records.owe(8, current, MARK_READ)

    await actions.apply_pending(mailbox, mailbox.folder)

    assert [records.row(uid, uidvalidity=7).action_state for uid in old] == ["abandoned"] * 2
    assert records.row(old[0], uidvalidity=7).action_error == "UIDVALIDITY changed before the action"
    assert mailbox.expunged == []
    assert [mailbox.flags(uid) for uid in old] == [set(), set()]
    assert records.row(current, uidvalidity=8).action_state == "done"
    assert mailbox.flags(current) == {SEEN}


async def test_at_most_the_limit_is_applied_per_cycle(mailbox: FakeMailbox, records: FakeInboxRecords) -> None:
    actions = MailboxActions(records, 2, structlog.get_logger())
    uids = owed(mailbox, records, MARK_READ, 3)

    await actions.apply_pending(mailbox, mailbox.folder)
    assert [records.row(uid).action_state for uid in uids] == ["done", "done", "pending"]
    await actions.apply_pending(mailbox, mailbox.folder)
    assert records.row(uids[2]).action_state == "done"
