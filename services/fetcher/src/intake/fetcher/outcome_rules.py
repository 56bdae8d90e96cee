"""What the fetcher's row of a message keeps when an outcome arrives, and when a mailbox action is given up (pure).

The SQL in `outcome_records.py` applies these rules to many rows in one statement (`record_outcomes`,
`action_failed`); tests/integration/fetcher/test_outcome_rules.py runs one table of cases through both
this module and that SQL, so the two cannot drift apart.

- **The newest outcome wins**: outcomes may arrive in any order (a redelivered old one after a
  replay's), so the row shows the one with the latest `processed_at`; on a tie the arriving one.
- **The action is owed once**: the first outcome that names a mailbox action makes it `pending`; once an
  action is pending, done or abandoned, no later outcome adds or changes it.
- **A failing action is abandoned** after MAX_ACTION_ATTEMPTS attempts; the row keeps the last error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from intake.shared.inbox_vocabulary import ProcessedAction

# How often a failing mailbox action is tried before it is given up (left in the log, not the mailbox).
MAX_ACTION_ATTEMPTS = 20


@dataclass(frozen=True)
class OutcomeOnRow:
    """The outcome part of a `fetcher.messages` row."""

    outcome: str | None
    reason: str | None
    processed_at: datetime | None
    action: ProcessedAction | None
    action_state: str | None  # None (no action owed), pending, done, abandoned


@dataclass(frozen=True)
class ArrivingOutcome:
    outcome: str
    reason: str
    processed_at: datetime
    action: ProcessedAction | None  # what `actions.decide_action` owes for it


def merge_outcome(row: OutcomeOnRow, arriving: ArrivingOutcome) -> OutcomeOnRow:
    """The row after `arriving` is recorded on it (see the module docstring)."""
    keeps_stored = row.processed_at is not None and row.processed_at > arriving.processed_at
    newest = row if keeps_stored else arriving
    owes = row.action_state is None and arriving.action is not None
    return OutcomeOnRow(
        outcome=newest.outcome,
        reason=newest.reason,
        processed_at=newest.processed_at,  # the later of the two
        action=arriving.action if row.action_state is None else row.action,
        action_state="pending" if owes else row.action_state,
    )


def after_failed_action(attempts: int, action_state: str | None) -> tuple[int, str | None]:
    """The attempt count and state of an action whose attempt just failed.

    >>> after_failed_action(0, "pending"), after_failed_action(MAX_ACTION_ATTEMPTS - 1, "pending")
    ((1, 'pending'), (20, 'abandoned'))
    """
    attempts += 1
    return attempts, "abandoned" if attempts >= MAX_ACTION_ATTEMPTS else action_state
