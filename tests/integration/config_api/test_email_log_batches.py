"""Recording email-log events in batches ends exactly where recording them one by one ends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from intake.config_api.email_log_recording import (
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


ALL_COLUMNS = f"{COLUMNS}, correlation_id, reprocessed_from"


def sparse_fetched(uid: int, second: int, **changes: Any) -> MessageFetched:
    """A fetch with every optional field empty."""
    return fetched(uid, second, message_id=None, sender=None, subject=None, **changes)


def sparse_processed(uid: int, second: int, outcome: Outcome) -> MessageProcessed:
    """An outcome without message_id and issue number."""
    return processed(uid, second, outcome).model_copy(update={"message_id": None, "issue_number": None})


async def reprocessed_rows(db: asyncpg.Connection) -> None:
    """Rows 1..4 recorded with an outcome, then made `pending` again by reprocess (uids 1, 2 from `failed`)."""
    for uid, outcome in [(1, Outcome.FAILED), (2, Outcome.FAILED), (3, Outcome.ISSUE_CREATED), (4, Outcome.DUPLICATE)]:
        await record_fetched(db, fetched(uid, 0), f"first-{uid}")
        await record_processed(db, processed(uid, 30, outcome))
    await db.execute(
        """UPDATE config.email_log SET outcome = 'pending', reprocessed_from = outcome, reprocessed_at = now()
           WHERE uid <= 4"""
    )


async def test_a_batch_naming_a_row_several_times_ends_like_one_by_one(
    db: asyncpg.Connection, database_url: str
) -> None:
    """One batch holds redeliveries and replays of the same rows (a statement may change a row only once),
    with empty optional fields and correlation ids given or not, over rows a reprocess made pending."""
    await migrate(db, "intake.config_api", "config")
    fetches = [
        sparse_fetched(5, 20),
        fetched(1, 5),
        sparse_fetched(6, 9, rejected="too large: 9 bytes, the limit is 1 bytes"),
        fetched(5, 10, rejected="too large: 9 bytes, the limit is 1 bytes"),
        sparse_fetched(1, 3),
        fetched(6, 9),
        sparse_fetched(5, 15),
        fetched(7, 40),
    ]
    fetch_correlations = [None, "c-1a", "c-6", "c-5", None, None, "c-5b", None]
    outcomes = [
        processed(1, 31, Outcome.ISSUE_CREATED),  # ends a pending row replaced from `failed`
        processed(3, 30, Outcome.ISSUE_CREATED),  # a redelivery of the replaced outcome: stays pending
        processed(1, 32, Outcome.FAILED),  # never replaces a committed outcome
        sparse_processed(2, 29, Outcome.DUPLICATE),  # committed, ends the row replaced from `failed`
        processed(4, 31, Outcome.FAILED),  # later: ends the pending row
        processed(4, 33, Outcome.ISSUE_UPDATED),  # committed replaces `failed`
        sparse_processed(8, 50, Outcome.REJECTED),  # before its fetch: adds the row
        processed(8, 49, Outcome.ISSUE_CREATED),  # older: ignored
        processed(5, 21, Outcome.FAILED),
        sparse_processed(5, 21, Outcome.IGNORED_SENDER),  # committed replaces `failed` of the same time
        processed(4, 33, Outcome.DUPLICATE),  # same time, both committed: the later one wins
        processed(3, 35, Outcome.AUTO_GENERATED),  # later: ends the pending row
    ]
    outcome_correlations = ["p-1", None, "p-1b", None, "p-4", None, "p-8", "p-8b", None, "p-5", None, None]
    for batch in (fetches, outcomes):
        keys = [(event.inbox_id, event.uidvalidity, event.uid) for event in batch]
        assert len(set(keys)) < len(keys) - 2

    await reprocessed_rows(db)
    for event, correlation in zip(fetches, fetch_correlations, strict=True):
        await record_fetched(db, event, correlation)
    for outcome, correlation in zip(outcomes, outcome_correlations, strict=True):
        await record_processed(db, outcome, correlation)
    order = "ORDER BY inbox_id, uidvalidity, uid"
    one_by_one = await db.fetch(f"SELECT {ALL_COLUMNS} FROM config.email_log {order}")
    await db.execute("TRUNCATE config.email_log")

    await reprocessed_rows(db)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await record_fetched_batch(pool, fetches, fetch_correlations)
        await record_processed_batch(pool, outcomes, outcome_correlations)
    finally:
        await pool.close()
    batched = await db.fetch(f"SELECT {ALL_COLUMNS} FROM config.email_log {order}")

    assert [dict(row) for row in batched] == [dict(row) for row in one_by_one]
    by_uid = {row["uid"]: row for row in batched}
    assert len(by_uid) == 8
    assert (by_uid[1]["outcome"], by_uid[1]["fetched_at"], by_uid[1]["correlation_id"]) == (
        "issue_created",
        T0,
        "first-1",
    )
    assert (by_uid[3]["outcome"], by_uid[4]["outcome"], by_uid[5]["outcome"]) == (
        "auto_generated",
        "duplicate",
        "ignored_sender",
    )
    # The last fetch (empty fields) sets sender and subject; a message_id stays once known.
    assert (by_uid[5]["message_id"], by_uid[5]["sender"], by_uid[5]["size"]) == ("<m5@x>", None, 105)
    assert (by_uid[5]["fetched_at"], by_uid[5]["correlation_id"]) == (T0 + timedelta(seconds=10), "c-5")
    assert by_uid[5]["fetch_rejected"] == by_uid[6]["fetch_rejected"] == "too large: 9 bytes, the limit is 1 bytes"
    assert (by_uid[8]["outcome"], by_uid[8]["issue_number"], by_uid[8]["fetched_at"]) == ("rejected", None, None)
    assert (by_uid[2]["outcome"], by_uid[2]["issue_number"], by_uid[2]["message_id"]) == ("duplicate", None, "<m2@x>")
