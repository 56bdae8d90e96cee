"""The inbox loop end to end: Dovecot → blobs + fetcher.messages → `message.fetched`, outcomes back to the mailbox."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator

import asyncpg
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from intake.fetcher.settings import FetcherSettings
from intake.shared import topology
from intake.shared.blobs import blob_key, get_blob, put_blob
from intake.shared.contracts import InboxState, Outcome
from intake.shared.migrations import migrate, migrate_blobs
from intake.shared.secrets import SecretBox
from tests.integration.fetcher.conftest import SERVICE_TOKEN, Bus, InboxFactory, eventually, message, running
from tests.support.access_tokens import AccessTokenEndpoint, needs_reauth_answer, token_answer
from tests.support.dovecot import Dovecot, Mailbox, running_dovecot


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


async def test_outcomes_waiting_at_start_mark_all_their_messages_read(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox)
    uids = mailbox.append_many([message(f"read me {index}") for index in range(5)])
    async with running(fetcher_settings):
        events = [await bus.next_fetched() for _ in uids]
        await eventually(lambda: _state_is(db, inbox_id, uids[-1], "published"), "the rows to be published")
    for event in events:  # queued while no fetcher runs: applied together at the next start
        await bus.send_processed(event, Outcome.ISSUE_CREATED)

    async with running(fetcher_settings):
        for uid in uids:
            await eventually(functools.partial(_action_done, db, inbox_id, uid), f"the action on {uid} recorded done")
    assert all(_seen_flag(mailbox, uid) for uid in uids)
    assert await bus.pending_fetched() == 0


def _seen_flag(mailbox: Mailbox, uid: int) -> bool:
    return "\\Seen" in (mailbox.flags(uid) or set())


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


async def test_too_large_message_is_published_rejected_with_its_header_and_left_in_the_mailbox(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox, processed_action="delete")
    raw = message("large", "<large@example.com>") + b"x" * 2048 + b"\r\n"
    large = mailbox.append(raw)
    small = mailbox.append(message("small"))

    async with running(fetcher_settings.model_copy(update={"fetcher_max_message_bytes": 1024})):
        rejected = await bus.next_fetched()
        assert rejected.uid == large
        assert rejected.rejected == f"too large: {len(raw)} bytes, the limit is 1024 bytes"
        assert (rejected.size, rejected.message_id, rejected.subject) == (len(raw), "<large@example.com>", "large")
        header = await get_blob(db, rejected.raw_sha256)
        assert header is not None
        assert raw.startswith(header)
        assert header.endswith(b"\r\n\r\n")
        assert b"xxxx" not in header
        assert (await bus.next_fetched()).uid == small
        await bus.send_processed(rejected, Outcome.REJECTED)
        await eventually(lambda: _state_is(db, rejected.inbox_id, large, "processed"), "the rejection recorded")
    assert await bus.pending_fetched() == 0
    assert mailbox.uids() == [large, small]
    assert mailbox.flags(large) == set()


async def test_a_cycle_of_mixed_sizes_fetches_small_ones_together_and_big_ones_alone(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox)
    big = message("big, fetched alone") + b"b" * (100 * 1024) + b"\r\n"  # over batches.MAX_BATCHED_BODY_BYTES
    too_large = message("too large") + b"t" * (300 * 1024) + b"\r\n"
    raws = [message(f"small {index}") for index in range(40)]  # more than one FETCH's worth
    raws[10:10] = [big]
    raws[30:30] = [too_large]
    uids = mailbox.append_many(raws)

    async with running(fetcher_settings.model_copy(update={"fetcher_max_message_bytes": 200 * 1024})):
        events = {event.uid: event for event in [await bus.next_fetched() for _ in raws]}
        await eventually(lambda: _last_uid_is(db, inbox_id, uids[-1]), "the checkpoint past the last message")
    assert set(events) == set(uids)
    for uid, raw in zip(uids, raws, strict=True):
        event = events[uid]
        assert event.size == len(raw)
        if raw is too_large:
            assert event.rejected == f"too large: {len(raw)} bytes, the limit is {200 * 1024} bytes"
            continue
        assert event.rejected is None
        assert await get_blob(db, event.raw_sha256) == raw
    states = await db.fetch("SELECT DISTINCT state FROM fetcher.messages WHERE inbox_id = $1", inbox_id)
    assert [row["state"] for row in states] == ["published"]
    assert await bus.pending_fetched() == 0  # each published once


async def test_batches_cross_the_per_cycle_limit_without_loss_or_repeat(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox)
    uids = mailbox.append_many([message(f"limited {index}") for index in range(23)])

    async with running(fetcher_settings.model_copy(update={"fetcher_max_messages_per_cycle": 5})):
        received = [(await bus.next_fetched()).uid for _ in uids]
        await eventually(lambda: _last_uid_is(db, inbox_id, uids[-1]), "the checkpoint past the last message")
    assert sorted(received) == uids
    assert await bus.pending_fetched() == 0


async def _last_uid_is(db: asyncpg.Connection, inbox_id: int, uid: int) -> bool:
    last: int | None = await db.fetchval("SELECT last_uid FROM fetcher.checkpoints WHERE inbox_id = $1", inbox_id)
    return last == uid


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


async def test_uidvalidity_change_loses_nothing_even_read_mail(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    mailbox.create_folder("Support")
    await make_inbox(mailbox, directory="Support", first_fetch="unread")
    old = message("before the change", "<old@example.com>")
    mailbox.append(old, folder="Support")
    async with running(fetcher_settings):
        assert (await bus.next_fetched()).message_id == "<old@example.com>"

    # The folder is rebuilt (a server migration): the old message comes back, and mail arrived
    # meanwhile, one of them already read by a person.
    mailbox.delete_folder("Support")
    mailbox.create_folder("Support")
    mailbox.append(old, folder="Support", flags="\\Seen")
    mailbox.append(message("arrived and read", "<read@example.com>"), folder="Support", flags="\\Seen")
    mailbox.append(message("arrived unread", "<unread@example.com>"), folder="Support")
    async with running(fetcher_settings):
        ids = {(await bus.next_fetched()).message_id for _ in range(3)}
    # Nothing skipped; the old one comes again under its new UID and the ingestor dedupes it by Message-ID.
    assert ids == {"<old@example.com>", "<read@example.com>", "<unread@example.com>"}
    assert await bus.pending_fetched() == 0


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


# -- encryption, folders, health ------------------------------------------------------------------------
async def test_starttls_inbox_with_its_ca(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox, hostname="localhost", encryption="tls", ca_certificate=dovecot.ca_pem)
    uid = mailbox.append(message("over STARTTLS"))

    async with running(fetcher_settings):
        assert (await bus.next_fetched()).uid == uid
        ok = await bus.next_status(lambda s: s.state is InboxState.OK, "an ok status")
        assert (ok.last_error, ok.consecutive_failures, ok.push) == (None, 0, True)
        assert ok.last_success_at is not None


async def test_starttls_without_the_ca_is_an_error_in_words(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox, hostname="localhost", encryption="tls")
    mailbox.append(message("must not be read"))

    async with running(fetcher_settings):
        first = await bus.next_status(lambda s: s.inbox_id == inbox_id, "an error status")
        second = await bus.next_status(lambda s: s.consecutive_failures >= 2, "a second failure")
    assert first.state is InboxState.ERROR
    assert first.last_error is not None
    assert first.last_error.startswith("certificate not trusted")
    assert (first.consecutive_failures, first.last_success_at) == (1, None)
    assert second.state is InboxState.ERROR
    assert await bus.pending_fetched() == 0


async def test_missing_folder_is_an_inbox_error(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox, directory="Tickets ✓")

    async with running(fetcher_settings):
        status = await bus.next_status(lambda s: s.state is InboxState.ERROR, "an error status")
    assert status.last_error == (
        "folder missing: there is no folder 'Tickets ✓' in this mailbox (folder names are case-sensitive, except INBOX)"
    )


async def test_non_ascii_folder(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    mailbox.create_folder("Kundenanfragen &AMQ- Entw&APw-rfe")  # "Kundenanfragen Ä Entwürfe"
    await make_inbox(mailbox, directory="Kundenanfragen Ä Entwürfe")
    uid = mailbox.append(message("umlaut folder"), folder="Kundenanfragen &AMQ- Entw&APw-rfe")

    async with running(fetcher_settings):
        assert (await bus.next_fetched()).uid == uid


async def test_wrong_password_then_fixed(
    dovecot: Dovecot,
    make_inbox: InboxFactory,
    fetcher_settings: FetcherSettings,
    bus: Bus,
    config_db: asyncpg.Connection,
    secret_key: str,
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox, password_encrypted=SecretBox(secret_key).encrypt("not the password"))
    uid = mailbox.append(message("after the fix"))

    async with running(fetcher_settings):
        wrong = await bus.next_status(lambda s: s.state is InboxState.ERROR, "an error status")
        assert wrong.last_error is not None
        assert wrong.last_error.startswith("wrong password: the server refused the login")
        assert "not the password" not in wrong.last_error
        await config_db.execute(
            "UPDATE config.inboxes SET password_encrypted = $2, updated_at = now() WHERE id = $1",
            inbox_id,
            SecretBox(secret_key).encrypt(mailbox.password),
        )
        assert (await bus.next_fetched()).uid == uid
        ok = await bus.next_status(lambda s: s.state is InboxState.OK, "an ok status")
    assert (ok.last_error, ok.consecutive_failures) == (None, 0)


# -- IDLE and polling ------------------------------------------------------------------------------------
async def test_mail_arriving_while_idling_is_published(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    # A full check only every 10 minutes: within the test, only an IDLE push can deliver the message.
    await make_inbox(mailbox, poll_interval_seconds=600)

    async with running(fetcher_settings):
        await bus.next_status(lambda s: s.state is InboxState.OK and s.push is True, "the inbox to be idling")
        await eventually(lambda: _idling(dovecot, mailbox), "the fetcher's session to be in IDLE")
        uid = mailbox.append(message("pushed"))
        assert (await bus.next_fetched()).uid == uid
        later = mailbox.append(message("pushed again"))
        assert (await bus.next_fetched()).uid == later


async def _idling(dovecot: Dovecot, mailbox: Mailbox) -> bool | None:
    return dovecot.idling(mailbox.username) or None


@pytest.fixture(scope="module")
def plain_dovecot() -> Iterator[Dovecot]:
    """A Dovecot announcing neither IDLE nor UIDPLUS, as some servers do."""
    capabilities = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE"
    with running_dovecot(extra_config=f"imap_capability = {capabilities}") as server:
        yield server


async def test_without_idle_the_inbox_is_polled(
    plain_dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = plain_dovecot.new_user()
    await make_inbox(mailbox, poll_interval_seconds=1)

    async with running(fetcher_settings):
        ok = await bus.next_status(lambda s: s.state is InboxState.OK, "an ok status")
        assert ok.push is False
        uid = mailbox.append(message("polled"))
        assert (await bus.next_fetched()).uid == uid


async def test_delete_without_uidplus_never_expunges_what_others_flagged(
    plain_dovecot: Dovecot,
    make_inbox: InboxFactory,
    fetcher_settings: FetcherSettings,
    bus: Bus,
    db: asyncpg.Connection,
) -> None:
    mailbox = plain_dovecot.new_user()
    inbox_id = await make_inbox(mailbox, processed_action="delete")
    ours = mailbox.append(message("ours"))
    theirs = mailbox.append(message("flagged by a person"), flags="\\Deleted \\Seen")

    async with running(fetcher_settings):
        events = {event.uid: event for event in [await bus.next_fetched(), await bus.next_fetched()]}
        await bus.send_processed(events[ours], Outcome.ISSUE_CREATED)
        await eventually(lambda: _action_done(db, inbox_id, ours), "the delete to be recorded done")
    # Flagged \Deleted, not expunged: a plain EXPUNGE would also have removed the other message.
    assert mailbox.uids() == [ours, theirs]
    assert mailbox.flags(ours) == {"\\Deleted"}
    assert mailbox.flags(theirs) == {"\\Deleted", "\\Seen"}


# -- recovery ---------------------------------------------------------------------------------------------
async def test_connection_cut_mid_fetch_recovers(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox)
    uids = mailbox.append_many([message(f"bulk {i}") + b"y" * 4000 + b"\r\n" for i in range(600)])
    settings = fetcher_settings.model_copy(update={"fetcher_max_messages_per_cycle": 20})

    async with running(settings):
        seen = {(await bus.next_fetched()).uid for _ in range(5)}
        dovecot.kick(mailbox.username)
        await bus.next_status(lambda s: s.state is InboxState.ERROR, "the cut to be reported")
        while len(seen) < len(uids):
            seen.add((await bus.next_fetched()).uid)
        await bus.next_status(lambda s: s.state is InboxState.OK and s.consecutive_failures == 0, "recovery")
    assert seen == set(uids)


# -- OAuth2 ------------------------------------------------------------------------------------------------
@pytest.fixture
def oauth2_settings(fetcher_settings: FetcherSettings, access_tokens: AccessTokenEndpoint) -> FetcherSettings:
    return fetcher_settings.model_copy(
        update={"config_api_url": access_tokens.url, "service_token": SecretStr(SERVICE_TOKEN)}
    )


async def test_oauth2_inbox_signs_in_with_a_token_from_config_api(
    oauth2_dovecot: Dovecot,
    make_inbox: InboxFactory,
    oauth2_settings: FetcherSettings,
    access_tokens: AccessTokenEndpoint,
    bus: Bus,
) -> None:
    assert oauth2_dovecot.oauth2 is not None
    mailbox = oauth2_dovecot.new_user()
    inbox_id = await make_inbox(mailbox, auth="oauth2", password_encrypted=None)
    token = oauth2_dovecot.oauth2.grant(mailbox.username)
    access_tokens.answer(inbox_id, token_answer(token, mailbox.username))
    uid = mailbox.append(message("via XOAUTH2"))

    async with running(oauth2_settings):
        assert (await bus.next_fetched()).uid == uid
        oauth2_dovecot.kick(mailbox.username)  # the next session signs in with the cached token
        await bus.next_status(lambda s: s.state is InboxState.ERROR, "the cut to be reported")
        await bus.next_status(lambda s: s.state is InboxState.OK and s.consecutive_failures == 0, "recovery")
    assert access_tokens.asked(inbox_id) == 1
    assert oauth2_dovecot.oauth2.requests.count(token) >= 2


async def test_oauth2_token_refused_by_the_server(
    oauth2_dovecot: Dovecot,
    make_inbox: InboxFactory,
    oauth2_settings: FetcherSettings,
    access_tokens: AccessTokenEndpoint,
    bus: Bus,
) -> None:
    mailbox = oauth2_dovecot.new_user()
    inbox_id = await make_inbox(mailbox, auth="oauth2", password_encrypted=None)
    access_tokens.answer(inbox_id, token_answer("never-granted", mailbox.username))

    async with running(oauth2_settings):
        refused = await bus.next_status(lambda s: s.state is InboxState.ERROR, "an error status")
        # A refused token is not used again: the next attempt asks config-api for a new one.
        await eventually(lambda: _asked_at_least(access_tokens, inbox_id, 2), "a new token to be asked for")
    assert refused.last_error is not None
    assert "refused the OAuth2 access token" in refused.last_error
    assert "never-granted" not in refused.last_error


async def _asked_at_least(endpoint: AccessTokenEndpoint, inbox_id: int, times: int) -> bool:
    return endpoint.asked(inbox_id) >= times


async def test_needs_reauth_is_reported_once_and_not_asked_again_until_the_settings_change(
    oauth2_dovecot: Dovecot,
    make_inbox: InboxFactory,
    oauth2_settings: FetcherSettings,
    access_tokens: AccessTokenEndpoint,
    bus: Bus,
    config_db: asyncpg.Connection,
) -> None:
    assert oauth2_dovecot.oauth2 is not None
    mailbox = oauth2_dovecot.new_user()
    inbox_id = await make_inbox(mailbox, auth="oauth2", password_encrypted=None)
    access_tokens.answer(inbox_id, needs_reauth_answer("invalid_grant: the refresh token was revoked"))
    uid = mailbox.append(message("after reconnecting"))

    async with running(oauth2_settings):
        status = await bus.next_status(lambda s: s.state is InboxState.NEEDS_REAUTH, "a needs_reauth status")
        assert status.last_error is not None
        assert "invalid_grant" in status.last_error
        # Several reconnect backoffs (at most 2 s here) and settings refreshes (0.2 s) pass: no new request.
        await asyncio.sleep(5)
        assert access_tokens.asked(inbox_id) == 1

        # A person reconnects the inbox: config-api stores the new grant and the settings change.
        access_tokens.answer(inbox_id, token_answer(oauth2_dovecot.oauth2.grant(mailbox.username), mailbox.username))
        await config_db.execute("UPDATE config.inboxes SET updated_at = now() WHERE id = $1", inbox_id)
        assert (await bus.next_fetched()).uid == uid
        await bus.next_status(lambda s: s.state is InboxState.OK, "an ok status")
    # Asked again once the settings changed (by the loop itself and/or by its restart: at most twice).
    assert 2 <= access_tokens.asked(inbox_id) <= 3
    assert [s.state for s in bus.statuses].count(InboxState.NEEDS_REAUTH) == 1


async def test_oauth2_without_a_service_token(
    oauth2_dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = oauth2_dovecot.new_user()
    await make_inbox(mailbox, auth="oauth2", password_encrypted=None)

    async with running(fetcher_settings):
        status = await bus.next_status(lambda s: s.state is InboxState.ERROR, "an error status")
    assert status.last_error == "INTAKE_SERVICE_TOKEN is not set"


async def test_a_failed_action_is_retried_without_a_second_fetch(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox)
    uid = mailbox.append(message("action retried"))
    async with running(fetcher_settings):
        event = await bus.next_fetched()
        await eventually(lambda: _state_is(db, inbox_id, uid, "published"), "the row to be published")
    # The state a refused `UID STORE` leaves behind (processed, action pending, one failed attempt).
    await db.execute(
        """UPDATE fetcher.messages SET state = 'processed', outcome = 'issue_created', action = 'mark_read',
               action_state = 'pending', action_attempts = 1, action_error = 'store: NO try later'
           WHERE inbox_id = $1 AND uid = $2""",
        inbox_id,
        uid,
    )

    async with running(fetcher_settings):
        row = await eventually(lambda: _action_done(db, inbox_id, uid), "the action to be retried")
        assert (row["action_attempts"], row["action_error"]) == (2, None)
        assert await _flag_set(mailbox, uid)
    assert await bus.pending_fetched() == 0  # never fetched or published a second time
    assert event.uid == uid


async def test_a_large_message_is_stored_whole(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    await make_inbox(mailbox)
    raw = message("three megabytes") + (b"z" * 998 + b"\r\n") * 3000  # streamed to the blob store in chunks
    uid = mailbox.append(raw)

    async with running(fetcher_settings):
        event = await bus.next_fetched()
    assert (event.uid, event.size, event.rejected) == (uid, len(raw), None)
    assert await get_blob(db, event.raw_sha256) == raw


async def test_a_message_the_server_cannot_serve_does_not_block_the_inbox(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    inbox_id = await make_inbox(mailbox)
    poison = mailbox.append(message("poison") + b"p" * 4000 + b"\r\n")
    # Cut the message's maildir file short: Dovecot drops the connection on every FETCH of its body.
    files = list((dovecot.mail_root / mailbox.username / "Maildir").glob("*/*,S=*"))
    assert len(files) == 1
    files[0].write_bytes(files[0].read_bytes()[:100])
    healthy = mailbox.append(message("behind the poison"))

    async with running(fetcher_settings):
        events = {event.uid: event for event in [await bus.next_fetched(), await bus.next_fetched()]}
    assert set(events) == {poison, healthy}
    assert events[healthy].rejected is None
    # Published once: whole if Dovecot could serve it after all, else rejected with the reason.
    rejected = events[poison].rejected
    if rejected is not None:
        assert rejected.startswith("unreadable: fetching it failed 3 times")
        assert rejected.endswith("(last: fetch: the server closed the connection)")
    # Settled either way: no attempts left to count.
    assert await db.fetchval("SELECT count(*) FROM fetcher.fetch_attempts WHERE inbox_id = $1", inbox_id) == 0
    assert await bus.pending_fetched() == 0
    assert poison in mailbox.uids()
