"""Which outcome an email-log row shows when another arrives: the rule `email_log_recording` applies in SQL (pure).

Outcomes of one message may arrive in any order and more than once (redeliveries, replays). The
statement's `WHERE` clause (`email_log_recording._ON_PROCESSED_CONFLICT`) applies this rule to many rows
at once; tests/integration/config_api/test_email_log_merge.py runs one table of cases through both.

- A row without an outcome yet takes the arriving one.
- A row made `pending` again by reprocess keeps the replaced outcome's `processed_at`: only a later
  outcome ends it (a redelivery of the replaced one does not), or any committed outcome when the
  replaced one was `failed`.
- `failed` is the one outcome the ingestor never commits (it is published when the last delivery
  fails, possibly after a commit whose own publish was lost): a committed outcome always replaces
  `failed`, and `failed` never replaces a committed one.
- Otherwise the later outcome wins (on a tie, the arriving one): a replayed message gets a later
  outcome, and a redelivered old one must not undo it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PENDING = "pending"
FAILED = "failed"


@dataclass(frozen=True)
class LoggedOutcome:
    """The outcome part of a `config.email_log` row."""

    outcome: str  # `pending` until an outcome arrives
    processed_at: datetime | None
    reprocessed_from: str | None  # the outcome a reprocess replaced, while the row is `pending` again


def replaces(row: LoggedOutcome, outcome: str, processed_at: datetime) -> bool:
    """Whether an arriving `outcome` of `processed_at` replaces the row's (see the module docstring).

    >>> from datetime import UTC, datetime
    >>> t1, t2 = datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC)
    >>> replaces(LoggedOutcome("issue_created", t2, None), "failed", t2)
    False
    >>> replaces(LoggedOutcome("failed", t2, None), "issue_created", t1)
    True
    """
    if row.processed_at is None:
        return True
    if row.outcome == PENDING:
        return row.processed_at < processed_at or (row.reprocessed_from == FAILED and outcome != FAILED)
    if (row.outcome == FAILED) != (outcome == FAILED):
        return outcome != FAILED
    return row.processed_at <= processed_at
