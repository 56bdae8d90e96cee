"""outcome_rules and the SQL that applies them, through one table each: the pure function and the statement
on a real `fetcher.messages` row must give the expected row, so the two cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from intake.fetcher.outcome_records import action_failed, record_outcomes
from intake.fetcher.outcome_rules import (
    MAX_ACTION_ATTEMPTS,
    ArrivingOutcome,
    OutcomeOnRow,
    after_failed_action,
    merge_outcome,
)
from intake.shared.contracts import MessageProcessed, Outcome
from intake.shared.inbox_vocabulary import ProcessedAction
from intake.shared.migrations import migrate, migrate_blobs

T0 = datetime(2026, 3, 1, tzinfo=UTC)
READ = ProcessedAction.MARK_READ
DELETE = ProcessedAction.DELETE


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


NOTHING_YET = OutcomeOnRow(None, None, None, None, None)

# (what the row holds, what arrives, what the row must hold after)
MERGES = {
    "first outcome, owes its action": (
        NOTHING_YET,
        ArrivingOutcome("issue_created", "new", at(10), READ),
        OutcomeOnRow("issue_created", "new", at(10), READ, "pending"),
    ),
    "first outcome, a skip owes nothing": (
        NOTHING_YET,
        ArrivingOutcome("ignored_sender", "listed", at(10), None),
        OutcomeOnRow("ignored_sender", "listed", at(10), None, None),
    ),
    "a newer outcome replaces an older one, the owed action stays": (
        OutcomeOnRow("issue_created", "new", at(10), READ, "pending"),
        ArrivingOutcome("duplicate", "replayed", at(20), None),
        OutcomeOnRow("duplicate", "replayed", at(20), READ, "pending"),
    ),
    "a late old outcome does not replace a newer one, but owes its action once": (
        OutcomeOnRow("duplicate", "replayed", at(20), None, None),
        ArrivingOutcome("issue_created", "new", at(10), READ),
        OutcomeOnRow("duplicate", "replayed", at(20), READ, "pending"),
    ),
    "on a tie the arriving outcome is shown": (
        OutcomeOnRow("issue_created", "first", at(10), READ, "pending"),
        ArrivingOutcome("issue_updated", "second", at(10), READ),
        OutcomeOnRow("issue_updated", "second", at(10), READ, "pending"),
    ),
    "an action done is never owed again, nor changed": (
        OutcomeOnRow("issue_created", "new", at(10), READ, "done"),
        ArrivingOutcome("issue_created", "again", at(30), DELETE),
        OutcomeOnRow("issue_created", "again", at(30), READ, "done"),
    ),
    "an abandoned action stays abandoned": (
        OutcomeOnRow("issue_created", "new", at(10), DELETE, "abandoned"),
        ArrivingOutcome("issue_updated", "later", at(40), DELETE),
        OutcomeOnRow("issue_updated", "later", at(40), DELETE, "abandoned"),
    ),
}

# (attempts and state before a failed attempt, after it)
FAILURES = {
    "the first failure": ((0, "pending"), (1, "pending")),
    "one before the last": ((MAX_ACTION_ATTEMPTS - 2, "pending"), (MAX_ACTION_ATTEMPTS - 1, "pending")),
    "the last attempt abandons": ((MAX_ACTION_ATTEMPTS - 1, "pending"), (MAX_ACTION_ATTEMPTS, "abandoned")),
    "abandoned stays abandoned": ((MAX_ACTION_ATTEMPTS + 3, "abandoned"), (MAX_ACTION_ATTEMPTS + 4, "abandoned")),
}


@pytest.fixture
async def fetcher_db(db: asyncpg.Connection) -> asyncpg.Connection:
    await migrate_blobs(db)
    await migrate(db, "intake.fetcher", "fetcher")
    return db


async def insert_row(db: asyncpg.Connection, row: OutcomeOnRow, *, attempts: int = 0) -> int:
    row_id: int = await db.fetchval(
        """INSERT INTO fetcher.messages (inbox_id, uidvalidity, uid, state, raw_sha256, size, outcome, reason,
               processed_at, action, action_state, action_attempts)
           VALUES (1, 5, 7, $1, $2, 10, $3, $4, $5, $6, $7, $8) RETURNING id""",
        "published" if row.outcome is None else "processed",
        "a" * 64,
        row.outcome,
        row.reason,
        row.processed_at,
        row.action.value if row.action else None,
        row.action_state,
        attempts,
    )
    return row_id


async def read_row(db: asyncpg.Connection) -> OutcomeOnRow:
    found = await db.fetchrow(
        "SELECT outcome, reason, processed_at, action, action_state FROM fetcher.messages WHERE uid = 7"
    )
    assert found is not None
    action = ProcessedAction(found["action"]) if found["action"] else None
    return OutcomeOnRow(found["outcome"], found["reason"], found["processed_at"], action, found["action_state"])


@pytest.mark.parametrize("case", list(MERGES))
async def test_merge_outcome_and_record_outcomes_agree(fetcher_db: asyncpg.Connection, case: str) -> None:
    before, arriving, expected = MERGES[case]
    assert merge_outcome(before, arriving) == expected

    await insert_row(fetcher_db, before)
    event = MessageProcessed(
        inbox_id=1,
        uidvalidity=5,
        uid=7,
        raw_sha256="a" * 64,
        outcome=Outcome(arriving.outcome),
        reason=arriving.reason,
        attempts=1,
        processed_at=arriving.processed_at,
    )
    assert await record_outcomes(fetcher_db, [(event, arriving.action)]) == {(1, 5, 7)}
    assert await read_row(fetcher_db) == expected


@pytest.mark.parametrize("case", list(FAILURES))
async def test_after_failed_action_and_action_failed_agree(fetcher_db: asyncpg.Connection, case: str) -> None:
    (attempts, state), expected = FAILURES[case]
    assert after_failed_action(attempts, state) == expected

    row_id = await insert_row(fetcher_db, OutcomeOnRow("issue_created", "new", at(10), READ, state), attempts=attempts)
    await action_failed(fetcher_db, row_id, "NO [CANNOT] mailbox is read-only")
    found = await fetcher_db.fetchrow(
        "SELECT action_attempts, action_state, action_error FROM fetcher.messages WHERE id = $1", row_id
    )
    assert found is not None
    assert (found["action_attempts"], found["action_state"]) == expected
    assert found["action_error"] == "NO [CANNOT] mailbox is read-only"
