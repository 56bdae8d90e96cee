"""Recording email-log events in batches ends exactly where recording them one by one ends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from intake.config_api.email_log import (
    record_fetched,
    record_fetched_batch,
    record_processed,
    record_processed_batch,
)
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from intake.shared.migrations import migrate

T0 = datetime(2025, 5, 1, tzinfo=UTC)
COLUMNS = """inbox_id, uidvalidity, uid, raw_sha256, message_id, sender, subject, size, fetched_at, logged_at,
             processed_at, outcome, reason, issue_number, attempts, fetch_rejected"""


def fetched(uid: int, second: int, **changes: Any) -> MessageFetched:
    values: dict[str, Any] = {
        "inbox_id": 1 + uid % 2,
        "uidvalidity": 7,
        "uid": uid,
        "raw_sha256": f"{uid:064x}",
        "size": 100 + uid,
        "message_id": f"<m{uid}@x>",
        "sender": f"s{uid}@example.com",
        "subject": f"subject {uid}",
        "fetched_at": T0 + timedelta(seconds=second),
    }
    return MessageFetched(**(values | changes))


def processed(uid: int, second: int, outcome: Outcome = Outcome.ISSUE_CREATED) -> MessageProcessed:
    return MessageProcessed(
        inbox_id=1 + uid % 2,
        uidvalidity=7,
        uid=uid,
        raw_sha256=f"{uid:064x}",
        message_id=f"<m{uid}@x>",
        outcome=outcome,
        reason=f"{outcome.value} at {second}",
        issue_number=None if outcome is Outcome.FAILED else uid,
        attempts=1 + second % 3,
        processed_at=T0 + timedelta(seconds=second),
    )


def events() -> tuple[list[MessageFetched], list[MessageProcessed]]:
    """Each row named several times: re-fetches, redeliveries, late and stale outcomes, `failed` both ways."""
    chooser = random.Random(7)
    fetches = [fetched(uid, chooser.randrange(60)) for uid in range(1, 31) for _ in range(chooser.randrange(1, 4))]
    fetches.append(fetched(3, 1, rejected="too large: 9 bytes, the limit is 1 bytes"))
    outcomes = [
        processed(
            uid, chooser.randrange(60), chooser.choice([Outcome.ISSUE_CREATED, Outcome.FAILED, Outcome.DUPLICATE])
        )
        for uid in range(1, 41)
        for _ in range(chooser.randrange(1, 4))
    ]
    chooser.shuffle(fetches)
    chooser.shuffle(outcomes)
    return fetches, outcomes


async def table(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {COLUMNS} FROM config.email_log ORDER BY inbox_id, uidvalidity, uid")


async def test_batches_end_like_one_by_one(db: asyncpg.Connection, database_url: str) -> None:
    await migrate(db, "intake.config_api", "config")
    fetches, outcomes = events()
    for event in fetches:
        await record_fetched(db, event)
    for outcome in outcomes:
        await record_processed(db, outcome)
    one_by_one = await table(db)
    await db.execute("TRUNCATE config.email_log")

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        for start in range(0, len(fetches), 25):
            await record_fetched_batch(pool, fetches[start : start + 25])
        for start in range(0, len(outcomes), 25):
            await record_processed_batch(pool, outcomes[start : start + 25])
    finally:
        await pool.close()
    batched = await table(db)
    assert len(one_by_one) == 40
    assert [dict(row) for row in batched] == [dict(row) for row in one_by_one]
