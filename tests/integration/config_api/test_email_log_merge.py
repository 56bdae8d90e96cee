"""email_log_merge.replaces and the email log's upsert, through one table: the pure rule and the SQL on a
real `config.email_log` row must agree on whether an arriving outcome replaces the row's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from intake.config_api.email_log_merge import LoggedOutcome, replaces
from intake.config_api.email_log_recording import record_fetched, record_processed
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from intake.shared.migrations import migrate

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


# (the row, the arriving outcome and its time, whether it replaces the row's)
CASES = {
    "no outcome yet": (LoggedOutcome("pending", None, None), "issue_created", at(10), True),
    "no outcome yet, failed arrives": (LoggedOutcome("pending", None, None), "failed", at(10), True),
    "a later outcome wins": (LoggedOutcome("issue_created", at(10), None), "duplicate", at(20), True),
    "an older outcome loses": (LoggedOutcome("duplicate", at(20), None), "issue_created", at(10), False),
    "on a tie the arriving one wins": (LoggedOutcome("issue_created", at(10), None), "issue_updated", at(10), True),
    "failed never replaces a committed outcome": (
        LoggedOutcome("issue_created", at(10), None),
        "failed",
        at(30),
        False,
    ),
    "a committed outcome replaces failed, even an older one": (
        LoggedOutcome("failed", at(30), None),
        "issue_created",
        at(10),
        True,
    ),
    "a later failed replaces failed": (LoggedOutcome("failed", at(10), None), "failed", at(20), True),
    "an older failed does not replace failed": (LoggedOutcome("failed", at(20), None), "failed", at(10), False),
    "reprocess: only a later outcome ends pending": (
        LoggedOutcome("pending", at(20), "ignored_sender"),
        "issue_created",
        at(30),
        True,
    ),
    "reprocess: the replaced outcome redelivered does not": (
        LoggedOutcome("pending", at(20), "ignored_sender"),
        "ignored_sender",
        at(20),
        False,
    ),
    "reprocess of failed: any committed outcome ends pending": (
        LoggedOutcome("pending", at(20), "failed"),
        "issue_created",
        at(10),
        True,
    ),
    "reprocess of failed: an older failed does not": (
        LoggedOutcome("pending", at(20), "failed"),
        "failed",
        at(10),
        False,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_replaces_and_the_upsert_agree(db: asyncpg.Connection, case: str) -> None:
    row, outcome, processed_at, expected = CASES[case]
    assert replaces(row, outcome, processed_at) is expected

    await migrate(db, "intake.config_api", "config")
    await record_fetched(
        db,
        MessageFetched(inbox_id=1, uidvalidity=7, uid=3, raw_sha256="a" * 64, size=10, fetched_at=at(0)),
    )
    await db.execute(
        """UPDATE config.email_log SET outcome = $1, processed_at = $2, reprocessed_from = $3, reason = 'before'
           WHERE uid = 3""",
        row.outcome,
        row.processed_at,
        row.reprocessed_from,
    )
    await record_processed(
        db,
        MessageProcessed(
            inbox_id=1,
            uidvalidity=7,
            uid=3,
            raw_sha256="a" * 64,
            outcome=Outcome(outcome),
            reason="arrived",
            issue_number=None if outcome == "failed" else 5,
            attempts=1,
            processed_at=processed_at,
        ),
    )
    reason = await db.fetchval("SELECT reason FROM config.email_log WHERE uid = 3")
    assert (reason == "arrived") is expected
