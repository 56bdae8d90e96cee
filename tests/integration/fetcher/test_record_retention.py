"""Pruning the fetcher's records on real PostgreSQL: the rule's table through the SQL, in batches."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from intake.fetcher.record_retention import behind_checkpoint, prune_records
from intake.shared.migrations import migrate, migrate_blobs
from tests.unit.fetcher.test_record_retention import RETENTION, ROWS, Row


async def test_the_rules_table_through_the_sql(db: asyncpg.Connection) -> None:
    await migrate_blobs(db)
    await migrate(db, "intake.fetcher", "fetcher")
    inbox_of: dict[str, int] = {}
    for inbox_id, row in enumerate(ROWS, start=1):
        # One inbox per row, so each row has its own checkpoint (or none).
        inbox_of[row.name] = inbox_id
        if row.checkpoint is not None:
            await db.execute(
                "INSERT INTO fetcher.checkpoints (inbox_id, uidvalidity, last_uid) VALUES ($1, $2, $3)",
                inbox_id,
                row.checkpoint.uidvalidity,
                row.checkpoint.last_uid,
            )
        await insert(db, inbox_id, row)
        # A failed fetch attempt for the same UID, as old as the outcome: it follows the same checkpoint rule.
        await db.execute(
            """INSERT INTO fetcher.fetch_attempts (inbox_id, uidvalidity, uid, attempts, last_error, updated_at)
               VALUES ($1, $2, $3, 1, 'timed out', now() - $4::interval)""",
            inbox_id,
            row.uidvalidity,
            row.uid,
            row.processed_ago or timedelta(0),
        )
    report = await prune_records(db, RETENTION, batch_size=2)
    left = {r["inbox_id"] for r in await db.fetch("SELECT inbox_id FROM fetcher.messages")}
    for row in ROWS:
        assert (inbox_of[row.name] not in left) is row.pruned, row.name
    assert report.rows["fetcher.messages"] == sum(row.pruned for row in ROWS)
    attempts_left = {r["inbox_id"] for r in await db.fetch("SELECT inbox_id FROM fetcher.fetch_attempts")}
    expected_attempts_pruned = {
        inbox_of[row.name]
        for row in ROWS
        if row.processed_ago is not None
        and row.processed_ago > RETENTION
        and behind_checkpoint(row.uidvalidity, row.uid, row.checkpoint)
    }
    assert set(inbox_of.values()) - attempts_left == expected_attempts_pruned
    assert report.rows["fetcher.fetch_attempts"] == len(expected_attempts_pruned)


async def insert(db: asyncpg.Connection, inbox_id: int, row: Row) -> None:
    await db.execute(
        """INSERT INTO fetcher.messages
               (inbox_id, uidvalidity, uid, state, raw_sha256, size, processed_at, outcome, action, action_state,
                action_done_at)
           VALUES ($1, $2, $3, $4, $5, 1, now() - $6::interval, $7, $8, $9, now() - $10::interval)""",
        inbox_id,
        row.uidvalidity,
        row.uid,
        row.state,
        "a" * 64,
        row.processed_ago,
        None if row.processed_ago is None else "ignored_sender",
        None if row.action_state is None else "mark_read",
        row.action_state,
        row.action_done_ago,
    )
