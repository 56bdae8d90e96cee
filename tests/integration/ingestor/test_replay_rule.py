"""The replay rule through one table: `results.decides_again` and the outcome upsert a replay records with
(`repository.record_outcome(..., replace_skip=True)`) agree for every stored outcome: a replay decides
again and replaces a skip, a rejection, a duplicate or a failure, never an outcome on an issue."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from intake.ingestor.app import apply_migrations
from intake.ingestor.repository import record_outcome
from intake.ingestor.results import decides_again
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 3, 2, tzinfo=UTC)

# The stored outcome, and whether a replay replaces it.
TABLE = {
    Outcome.ISSUE_CREATED: False,
    Outcome.ISSUE_UPDATED: False,
    Outcome.IGNORED_SENDER: True,
    Outcome.UNMATCHED_IGNORED: True,
    Outcome.AUTO_GENERATED: True,
    Outcome.DUPLICATE: True,
    Outcome.REJECTED: True,
    Outcome.FAILED: True,
}


def processed(outcome: Outcome, reason: str, at: datetime) -> MessageProcessed:
    return MessageProcessed(
        inbox_id=1,
        uidvalidity=5,
        uid=9,
        raw_sha256="a" * 64,
        outcome=outcome,
        reason=reason,
        issue_number=3 if outcome.stored_on_issue else None,
        attempts=1,
        processed_at=at,
    )


def test_the_table_names_every_outcome() -> None:
    assert set(TABLE) == set(Outcome)


@pytest.mark.parametrize("stored", list(TABLE), ids=lambda outcome: outcome.value)
async def test_decides_again_and_the_replay_upsert_agree(db: asyncpg.Connection, stored: Outcome) -> None:
    replay = MessageFetched(inbox_id=1, uidvalidity=5, uid=9, raw_sha256="a" * 64, size=10, fetched_at=T1, replay=True)
    first = processed(stored, "first", T0)
    assert decides_again(replay, first) is TABLE[stored]

    await apply_migrations(db)
    await record_outcome(db, first)
    recorded = await record_outcome(db, processed(Outcome.ISSUE_CREATED, "replayed", T1), replace_skip=True)
    assert (recorded.reason == "replayed") is TABLE[stored]
    stored_now = await db.fetchval("SELECT reason FROM tracker.outcomes WHERE uid = 9")
    assert (stored_now == "replayed") is TABLE[stored]
