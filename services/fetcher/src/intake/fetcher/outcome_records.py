"""The ingestor's outcomes on the fetcher's rows, and the mailbox actions they owe (a queue per inbox).

`record_outcomes` (the outcome consumer) applies `outcome_rules.merge_outcome` and makes an action
`pending`; the poller's action step reads `pending_actions` and records each as done, failed
(`outcome_rules.after_failed_action`) or abandoned. The rows are repository.py's; this module writes
only their outcome and action columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from intake.fetcher.outcome_rules import MAX_ACTION_ATTEMPTS
from intake.shared.contracts import MessageProcessed
from intake.shared.database import Executor, Session
from intake.shared.inbox_vocabulary import ProcessedAction


@dataclass(frozen=True)
class PendingAction:
    id: int
    uidvalidity: int
    uid: int
    action: ProcessedAction
    attempts: int
    message_id: str | None = None
    correlation_id: str | None = None

    def log_fields(self) -> dict[str, object]:
        """What a log line about this message names it by."""
        return {"uid": self.uid, "message_id": self.message_id, "correlation_id": self.correlation_id}


MessageKey = tuple[int, int, int]  # (inbox_id, uidvalidity, uid)


async def record_outcomes(
    conn: Session, outcomes: Sequence[tuple[MessageProcessed, ProcessedAction | None]]
) -> set[MessageKey]:
    """Record each of the ingestor's outcomes and, once, the mailbox action owed; returns the keys of
    the rows that are ours (an outcome for any other message changes nothing).

    One statement; the outcomes must name distinct messages (`key_rounds.in_rounds` splits repeats).
    Applies `outcome_rules.merge_outcome` to each row: idempotent and order-independent, the newest
    outcome (by processed_at) is kept, an action already pending or done is never added again.
    """
    rows = await conn.fetch(
        """UPDATE fetcher.messages AS m SET
               state = 'processed',
               -- The newest outcome is shown, whatever order they arrive in (a redelivered old one
               -- after a replay's); the action is owed once, by the first outcome that makes it safe.
               outcome = CASE WHEN m.processed_at > u.processed_at THEN m.outcome ELSE u.outcome END,
               reason = CASE WHEN m.processed_at > u.processed_at THEN m.reason ELSE u.reason END,
               processed_at = GREATEST(m.processed_at, u.processed_at),
               action = CASE WHEN m.action_state IS NULL THEN u.action ELSE m.action END,
               action_state = CASE WHEN m.action_state IS NULL AND u.action IS NOT NULL THEN 'pending'
                                   ELSE m.action_state END
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[],
                       $7::text[]) AS u(inbox_id, uidvalidity, uid, outcome, reason, processed_at, action)
           WHERE m.inbox_id = u.inbox_id AND m.uidvalidity = u.uidvalidity AND m.uid = u.uid
           RETURNING m.inbox_id, m.uidvalidity, m.uid""",
        [event.inbox_id for event, _ in outcomes],
        [event.uidvalidity for event, _ in outcomes],
        [event.uid for event, _ in outcomes],
        [event.outcome.value for event, _ in outcomes],
        [event.reason for event, _ in outcomes],
        [event.processed_at for event, _ in outcomes],
        [action.value if action is not None else None for _, action in outcomes],
    )
    return {(row["inbox_id"], row["uidvalidity"], row["uid"]) for row in rows}


async def pending_actions(conn: Executor, inbox_id: int, limit: int) -> list[PendingAction]:
    rows = await conn.fetch(
        """SELECT id, uidvalidity, uid, action, action_attempts, message_id, correlation_id FROM fetcher.messages
           WHERE inbox_id = $1 AND action_state = 'pending' ORDER BY id LIMIT $2""",
        inbox_id,
        limit,
    )
    return [
        PendingAction(
            row["id"],
            row["uidvalidity"],
            row["uid"],
            ProcessedAction(row["action"]),
            row["action_attempts"],
            row["message_id"],
            row["correlation_id"],
        )
        for row in rows
    ]


async def action_done(conn: Executor, message_ids: Sequence[int]) -> None:
    await conn.execute(
        """UPDATE fetcher.messages SET action_state = 'done', action_done_at = now(),
               action_attempts = action_attempts + 1, action_error = NULL
           WHERE id = ANY($1::bigint[])""",
        list(message_ids),
    )


async def action_failed(conn: Executor, message_id: int, error: str) -> None:
    """Count a failed attempt (`outcome_rules.after_failed_action`): after MAX_ACTION_ATTEMPTS the action
    is abandoned (it stays in the row)."""
    await conn.execute(
        """UPDATE fetcher.messages SET action_attempts = action_attempts + 1, action_error = $2,
               action_state = CASE WHEN action_attempts + 1 >= $3 THEN 'abandoned' ELSE action_state END
           WHERE id = $1""",
        message_id,
        error,
        MAX_ACTION_ATTEMPTS,
    )


async def action_abandoned(conn: Executor, message_id: int, reason: str) -> None:
    await conn.execute(
        "UPDATE fetcher.messages SET action_state = 'abandoned', action_error = $2 WHERE id = $1", message_id, reason
    )
