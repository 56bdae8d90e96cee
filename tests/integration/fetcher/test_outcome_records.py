"""outcome_records.record_outcomes on real rows: the newest outcome is kept in any arrival order, the action once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from intake.fetcher.outcome_records import record_outcomes
from intake.shared.contracts import MessageProcessed, Outcome
from intake.shared.inbox_vocabulary import ProcessedAction
from intake.shared.migrations import migrate, migrate_blobs

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def outcome(uid: int, outcome: Outcome, seconds: int) -> MessageProcessed:
    return MessageProcessed(
        inbox_id=1,
        uidvalidity=5,
        uid=uid,
        raw_sha256="a" * 64,
        outcome=outcome,
        reason=f"{outcome.value} at {seconds}",
        attempts=1,
        processed_at=T0 + timedelta(seconds=seconds),
    )


async def rows(db: asyncpg.Connection) -> dict[int, tuple[str, str, str | None, str | None]]:
    found = await db.fetch("SELECT uid, outcome, reason, action, action_state FROM fetcher.messages ORDER BY uid")
    return {row["uid"]: (row["outcome"], row["reason"], row["action"], row["action_state"]) for row in found}


async def test_the_newest_outcome_wins_in_either_order_and_the_action_is_owed_once(db: asyncpg.Connection) -> None:
    await migrate_blobs(db)
    await migrate(db, "intake.fetcher", "fetcher")
    for uid in (1, 2):
        await db.execute(
            """INSERT INTO fetcher.messages (inbox_id, uidvalidity, uid, state, raw_sha256, size)
               VALUES (1, 5, $1, 'published', $2, 10)""",
            uid,
            "a" * 64,
        )
    created = (outcome(1, Outcome.ISSUE_CREATED, 10), ProcessedAction.MARK_READ)
    replayed = (outcome(1, Outcome.DUPLICATE, 20), None)  # a replay decided later: left in the mailbox
    # uid 1: the older outcome arrives last (a late redelivery); uid 2: in order.
    assert await record_outcomes(db, [replayed]) == {(1, 5, 1)}
    assert await record_outcomes(db, [created]) == {(1, 5, 1)}
    await record_outcomes(db, [(outcome(2, Outcome.ISSUE_CREATED, 10), ProcessedAction.MARK_READ)])
    await record_outcomes(db, [(outcome(2, Outcome.DUPLICATE, 20), None)])
    # An outcome for a row the fetcher does not have changes nothing and is not reported as found.
    assert await record_outcomes(db, [(outcome(9, Outcome.ISSUE_CREATED, 30), ProcessedAction.MARK_READ)]) == set()

    assert await rows(db) == {
        1: ("duplicate", "duplicate at 20", "mark_read", "pending"),
        2: ("duplicate", "duplicate at 20", "mark_read", "pending"),
    }
