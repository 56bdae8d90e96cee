"""The inbox loop end to end: Dovecot → blobs + fetcher.messages → `message.fetched`, outcomes back to the mailbox."""

from __future__ import annotations

import asyncpg
from structlog.testing import capture_logs

from intake.fetcher.settings import FetcherSettings
from intake.shared import topology
from intake.shared.blobs import blob_key, get_blob, put_blob
from intake.shared.contracts import Outcome
from intake.shared.migrations import migrate, migrate_blobs
from tests.integration.fetcher.conftest import Bus, InboxFactory, eventually, message, running
from tests.support.dovecot import Dovecot, Mailbox


async def _row(db: asyncpg.Connection, inbox_id: int, uid: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM fetcher.messages WHERE inbox_id = $1 AND uid = $2", inbox_id, uid)


async def test_new_message_is_stored_published_once_and_marked_read_after_processing(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox)
    raw = message("Printer on fire", "<printer@example.com>")
    uid = mailbox.append(raw)

    async with running(fetcher_settings):
        event = await bus.next_fetched()
        assert (event.inbox_id, event.uid, event.uidvalidity) == (inbox_id, uid, mailbox.uidvalidity())
        assert event.raw_sha256 == blob_key(raw)
        assert (event.message_id, event.subject, event.sender) == (
            "<printer@example.com>",
            "Printer on fire",
            "Customer <customer@example.com>",
        )
        assert await get_blob(db, event.raw_sha256) == raw
        await eventually(lambda: _state_is(db, inbox_id, uid, "published"), "the row to be published")
        assert mailbox.flags(uid) == set()  # BODY.PEEK never marks \Seen

        await bus.send_processed(event, Outcome.ISSUE_CREATED)
        await eventually(lambda: _flag_set(mailbox, uid), "\\Seen after processing")
        row = await eventually(lambda: _action_done(db, inbox_id, uid), "the action to be recorded done")
        assert (row["state"], row["outcome"], row["action"]) == ("processed", "issue_created", "mark_read")
    assert await bus.pending_fetched() == 0  # published exactly once


async def _state_is(db: asyncpg.Connection, inbox_id: int, uid: int, state: str) -> bool:
    row = await _row(db, inbox_id, uid)
    return row is not None and row["state"] == state


async def _flag_set(mailbox: Mailbox, uid: int) -> bool:
    flags = mailbox.flags(uid)
    return flags is not None and "\\Seen" in flags


async def _action_done(db: asyncpg.Connection, inbox_id: int, uid: int) -> asyncpg.Record | None:
    row = await _row(db, inbox_id, uid)
    return row if row is not None and row["action_state"] == "done" else None


async def test_skipped_outcome_leaves_the_message_untouched(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox, processed_action="delete")
    uid = mailbox.append(message("Out of office"))

    async with running(fetcher_settings):
        event = await bus.next_fetched()
        await bus.send_processed(event, Outcome.AUTO_GENERATED)
        await eventually(lambda: _state_is(db, inbox_id, uid, "processed"), "the outcome to be recorded")
        row = await _row(db, inbox_id, uid)
        assert row is not None
        assert (row["action"], row["action_state"]) == (None, None)
    assert mailbox.flags(uid) == set()


async def test_delete_removes_only_the_processed_message(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox, processed_action="delete")
    first = mailbox.append(message("first"))
    second = mailbox.append(message("second"))

    async with running(fetcher_settings):
        events = {event.uid: event for event in [await bus.next_fetched(), await bus.next_fetched()]}
        assert set(events) == {first, second}
        await bus.send_processed(events[first], Outcome.ISSUE_UPDATED)

        async def only_second_left() -> bool:
            return mailbox.uids() == [second]

        await eventually(only_second_left, "the processed message to be expunged")
    assert mailbox.flags(second) == set()


async def test_restart_does_not_publish_again(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox)
    first = mailbox.append(message("before restart"))

    async with running(fetcher_settings):
        assert (await bus.next_fetched()).uid == first

    second = mailbox.append(message("after restart"))
    async with running(fetcher_settings):
        assert (await bus.next_fetched()).uid == second
    assert await bus.pending_fetched() == 0


async def test_first_fetch_unread_skips_mail_read_before_the_first_connection(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox, first_fetch="unread")
    mailbox.append(message("old and read"), flags="\\Seen")
    unread = mailbox.append(message("old but unread"))
    mailbox.append(message("newest old one, read"), flags="\\Seen")

    async with running(fetcher_settings):
        assert (await bus.next_fetched()).uid == unread
        # After the first connection the cursor rules, not the flag: new mail read elsewhere is taken.
        later = mailbox.append(message("new, already read"), flags="\\Seen")
        assert (await bus.next_fetched()).uid == later
    assert await bus.pending_fetched() == 0


async def test_implicit_tls_with_the_inbox_ca(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(
        mailbox, hostname="localhost", port=dovecot.imaps_port, encryption="ssl", ca_certificate=dovecot.ca_pem
    )
    uid = mailbox.append(message("over TLS"))

    async with running(fetcher_settings):
        assert (await bus.next_fetched()).uid == uid


async def test_implicit_tls_without_the_ca_is_refused(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox, hostname="localhost", port=dovecot.imaps_port, encryption="ssl")
    mailbox.append(message("must not be read"))

    with capture_logs() as logs:
        async with running(fetcher_settings):

            async def tls_refused() -> bool:
                return any(
                    entry.get("inbox_id") == inbox_id
                    and entry.get("stage") == "tls"
                    and "certificate" in entry["error"]
                    for entry in logs
                )

            await eventually(tls_refused, "the TLS failure to be logged")
    assert await bus.pending_fetched() == 0
    assert await db.fetchval("SELECT count(*) FROM fetcher.messages") == 0
    assert await db.fetchval("SELECT count(*) FROM fetcher.checkpoints") == 0


async def test_too_large_message_is_left_in_the_mailbox(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox)
    large = mailbox.append(message("large") + b"x" * 2048 + b"\r\n")
    small = mailbox.append(message("small"))

    async with running(fetcher_settings.model_copy(update={"fetcher_max_message_bytes": 1024})):
        assert (await bus.next_fetched()).uid == small
    assert await bus.pending_fetched() == 0
    assert mailbox.uids() == [large, small]
    assert mailbox.flags(large) == set()


async def test_uidvalidity_change_rescans_the_folder(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    mailbox.create_folder("Support")
    inbox_id = await make_inbox(mailbox, directory="Support")
    mailbox.append(message("before"), folder="Support")
    async with running(fetcher_settings):
        before = await bus.next_fetched()

    mailbox.delete_folder("Support")
    mailbox.create_folder("Support")
    assert mailbox.uidvalidity("Support") != before.uidvalidity
    uid = mailbox.append(message("after"), folder="Support")
    async with running(fetcher_settings):
        after = await bus.next_fetched()
    assert (after.uid, after.uidvalidity) == (uid, mailbox.uidvalidity("Support"))
    checkpoint = await db.fetchrow(
        "SELECT uidvalidity, last_uid FROM fetcher.checkpoints WHERE inbox_id = $1", inbox_id
    )
    assert checkpoint is not None
    assert tuple(checkpoint) == (after.uidvalidity, uid)


async def test_rows_stored_but_not_published_are_published_on_the_next_cycle(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    # The state a crash between the commit and the publish leaves behind.
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox)
    raw = message("crashed before publish")
    uid = mailbox.append(raw)
    uidvalidity = mailbox.uidvalidity()
    await migrate_blobs(db)
    await migrate(db, "intake.fetcher", "fetcher")
    await put_blob(db, raw)
    await db.execute(
        """INSERT INTO fetcher.messages (inbox_id, uidvalidity, uid, state, raw_sha256, size)
           VALUES ($1, $2, $3, 'stored', $4, $5)""",
        inbox_id,
        uidvalidity,
        uid,
        blob_key(raw),
        len(raw),
    )
    await db.execute(
        "INSERT INTO fetcher.checkpoints (inbox_id, uidvalidity, last_uid) VALUES ($1, $2, $3)",
        inbox_id,
        uidvalidity,
        uid,
    )

    async with running(fetcher_settings):
        event = await bus.next_fetched()
        assert (event.uid, event.raw_sha256) == (uid, blob_key(raw))
        await eventually(lambda: _state_is(db, inbox_id, uid, "published"), "the row to be published")
    assert await bus.pending_fetched() == 0


async def test_outcome_for_an_unknown_message_is_acked_and_ignored(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox)
    uid = mailbox.append(message("known"))

    async with running(fetcher_settings):
        event = await bus.next_fetched()
        await bus.send_processed(event.model_copy(update={"uid": uid + 100}))
        await bus.send_processed(event)
        await eventually(lambda: _flag_set(mailbox, uid), "the known message to be marked read")
        assert await bus.queue_depth(topology.FETCHER_PROCESSED_QUEUE) == 0
    assert await bus.queue_depth(topology.DEAD_LETTER_QUEUE_NAME) == 0
    assert await db.fetchval("SELECT count(*) FROM fetcher.messages") == 1
