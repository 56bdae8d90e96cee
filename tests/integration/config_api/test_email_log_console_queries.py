"""What the console's email log pages read and do, over real PostgreSQL and RabbitMQ: failed counts and bulk
reprocess for a filter, rows changed since a time (live mode), the fetcher's mailbox action record, and
each issue message's email log row."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from intake.config_api import email_log_bulk, email_log_changes, mailbox_actions, message_sources
from intake.config_api.email_log_filters import EmailLogFilter
from intake.config_api.email_log_recording import record_processed
from intake.config_api.email_log_schemas import LogOutcome
from intake.config_api.email_log_story import MailboxRecord
from intake.config_api.runtime import Runtime
from intake.config_api.settings import ConfigApiSettings
from intake.shared import topology
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from intake.shared.migrations import migrate
from tests.integration.config_api.conftest import eventually
from tests.integration.config_api.test_email_log import RAW, START, add_row


async def queued_uids(publisher: RabbitBroker, delivery_limit: int) -> set[int]:
    queue = await publisher.declare_queue(
        topology.work_queue(topology.INGESTOR_QUEUE, topology.MESSAGE_FETCHED, delivery_limit)
    )
    found: set[int] = set()
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        found.add(MessageFetched.model_validate_json(message.body).uid)
    return found


async def test_bulk_reprocess_queues_the_failed_rows_of_the_filter_only(
    app: FastAPI, db: asyncpg.Connection, publisher: RabbitBroker, settings: ConfigApiSettings
) -> None:
    runtime: Runtime = app.state.runtime
    failed = [await add_row(db, uid, RAW, Outcome.FAILED) for uid in (1, 2, 3)]
    await add_row(db, 4, None, Outcome.FAILED)  # raw bytes missing: refused, stays failed
    await add_row(db, 5, RAW, Outcome.REJECTED)  # not failed: not part of the bulk action
    await db.execute("UPDATE config.email_log SET subject = 'Other' WHERE uid = 3")
    printer = EmailLogFilter(q="printer")

    assert await email_log_bulk.count_failed(runtime.pool, printer) == 3  # uids 1, 2, 4
    assert await email_log_bulk.count_failed(runtime.pool, EmailLogFilter(outcome=LogOutcome.REJECTED)) == 0

    result = await email_log_bulk.bulk_reprocess(runtime.pool, runtime.publisher, printer)
    assert result.queued == 2
    assert result.refused == {"the raw message is not in the blob store, so it cannot be processed again": 1}
    assert result.remaining == 1
    outcomes = dict(await db.fetch("SELECT id, outcome FROM config.email_log"))
    assert [outcomes[row] for row in failed] == ["pending", "pending", "failed"]
    assert await eventually(lambda: queued_uids(publisher, settings.delivery_limit)) == {1, 2}

    again = await email_log_bulk.bulk_reprocess(runtime.pool, runtime.publisher, printer)
    assert (again.queued, again.refused_total, again.remaining) == (0, 1, 1)


async def test_bulk_reprocess_is_bounded_oldest_first(app: FastAPI, db: asyncpg.Connection) -> None:
    runtime: Runtime = app.state.runtime
    for uid in range(1, 6):
        await add_row(db, uid, RAW, Outcome.FAILED)
    result = await email_log_bulk.bulk_reprocess(runtime.pool, runtime.publisher, EmailLogFilter(), limit=2)
    assert (result.queued, result.remaining) == (2, 3)
    pending = await db.fetch("SELECT uid FROM config.email_log WHERE outcome = 'pending' ORDER BY uid")
    assert [row["uid"] for row in pending] == [1, 2]


async def test_changes_since_sees_new_and_changed_rows_of_the_filter(app: FastAPI, db: asyncpg.Connection) -> None:
    runtime: Runtime = app.state.runtime
    before = await email_log_changes.database_now(runtime.pool)
    await add_row(db, 1, RAW, None)
    changes = await email_log_changes.changes_since(runtime.pool, EmailLogFilter(), before, 100)
    assert [(c.entry.uid, c.entry.outcome) for c in changes] == [(1, LogOutcome.PENDING)]
    first = changes[0]

    sha = await db.fetchval("SELECT raw_sha256 FROM config.email_log WHERE uid = 1")
    processed = MessageProcessed(
        inbox_id=1,
        uidvalidity=9,
        uid=1,
        raw_sha256=sha,
        outcome=Outcome.FAILED,
        reason="boom",
        attempts=3,
        processed_at=START + timedelta(minutes=2),
    )
    await record_processed(db, processed)
    changes = await email_log_changes.changes_since(runtime.pool, EmailLogFilter(), first.updated_at, 100)
    newest = changes[-1]
    assert (newest.entry.id, newest.entry.outcome) == (first.entry.id, LogOutcome.FAILED)
    assert newest.updated_at > first.updated_at
    assert newest.logged_at == START + timedelta(minutes=1)

    only_other_inbox = EmailLogFilter(inbox_id=2)
    assert await email_log_changes.changes_since(runtime.pool, only_other_inbox, before, 100) == []
    await db.execute("SET enable_seqscan = off")  # a tiny table: ask whether the index can serve the poll
    plan = await db.fetch("EXPLAIN SELECT id FROM config.email_log WHERE updated_at >= now() ORDER BY updated_at")
    assert "email_log_updated_idx" in " ".join(row[0] for row in plan)


async def test_mailbox_record_from_the_fetchers_view(app: FastAPI, db: asyncpg.Connection) -> None:
    runtime: Runtime = app.state.runtime
    assert await mailbox_actions.mailbox_record(runtime.pool, 1, 9, 1) == (None, False)  # no fetcher schema
    await migrate(db, "intake.fetcher", "fetcher")
    assert await mailbox_actions.mailbox_record(runtime.pool, 1, 9, 1) == (None, True)
    done_at = await db.fetchval(
        """INSERT INTO fetcher.messages (inbox_id, uidvalidity, uid, state, raw_sha256, size, outcome, action,
                                         action_state, action_done_at)
           VALUES (1, 9, 1, 'processed', $1, 10, 'issue_created', 'delete', 'done', now())
           RETURNING action_done_at""",
        "a" * 64,
    )
    assert await mailbox_actions.mailbox_record(runtime.pool, 1, 9, 1) == (
        MailboxRecord(action="delete", state="done", attempts=0, error=None, done_at=done_at),
        True,
    )


async def test_each_issue_message_links_to_its_email_log_row(app: FastAPI, db: asyncpg.Connection) -> None:
    runtime: Runtime = app.state.runtime
    assert await message_sources.email_log_rows(runtime.pool, 1) == {}  # no tracker schema yet
    await migrate(db, "intake.ingestor", "tracker")
    row_id = await add_row(db, 7, RAW, Outcome.ISSUE_CREATED, issue_number=1)
    number = await db.fetchval("INSERT INTO tracker.issues (title, inbox_id) VALUES ('Printer', 1) RETURNING number")
    message = await db.fetchval(
        """INSERT INTO tracker.messages (issue_number, inbox_id, uidvalidity, uid, subject, body_text, raw_sha256)
           VALUES ($1, 1, 9, 7, 'Printer', 'text', $2) RETURNING id""",
        number,
        "b" * 64,
    )
    other = await db.fetchval(
        """INSERT INTO tracker.messages (issue_number, inbox_id, uidvalidity, uid, subject, body_text, raw_sha256)
           VALUES ($1, 1, 9, 8, 'Re: Printer', 'text', $2) RETURNING id""",
        number,
        "c" * 64,
    )
    links = await message_sources.email_log_rows(runtime.pool, number)
    assert links == {message: row_id}
    assert other not in links  # its log row was pruned: no link, no error


async def test_queries_are_planned_for_their_values(app: FastAPI) -> None:
    # A generic plan (asyncpg prepares every statement) cannot see an ILIKE pattern's selectivity and walks
    # the time index for a rare sender fragment: config-api's connections plan each query for its values.
    runtime: Runtime = app.state.runtime
    async with runtime.pool.acquire() as conn:
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
        statistics = await conn.fetch(
            "SELECT attname, attstattarget FROM pg_attribute"
            " WHERE attrelid = 'config.email_log'::regclass AND attname IN ('sender', 'subject')"
        )
    assert {row["attname"]: row["attstattarget"] for row in statistics} == {"sender": 1000, "subject": 1000}
