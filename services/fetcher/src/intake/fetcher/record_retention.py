"""When the fetcher's own records may be deleted (`fetcher.messages`, `fetcher.fetch_attempts`), and the SQL.

A message row matters until its outcome is recorded and its mailbox action is done or abandoned;
it is kept `retention` longer (what happened to a message stays answerable), and always while its
UID is above the inbox's checkpoint: there the row is what marks the UID as fetched, and without it
the UID would be fetched again. Failed fetch attempts follow the same checkpoint rule. `may_prune` is
the rule as a pure function; `prune_records` applies it in batches of short transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from intake.shared.cleanup_metrics import CleanupReport
from intake.shared.database import Executor

BATCH_SIZE = 5000
# What a run deletes from, as `intake_cleanup_deleted_rows_total{table}` names it.
PRUNED_TABLES = ("fetcher.messages", "fetcher.fetch_attempts")


@dataclass(frozen=True)
class MessageRecord:
    uidvalidity: int
    uid: int
    state: str  # stored, published, processed
    processed_at: datetime | None
    action_state: str | None  # None (no action owed), pending, done, abandoned
    action_done_at: datetime | None


@dataclass(frozen=True)
class CheckpointPosition:
    uidvalidity: int
    last_uid: int


def behind_checkpoint(uidvalidity: int, uid: int, checkpoint: CheckpointPosition | None) -> bool:
    """Whether the UID can never be fetched again: at or below the checkpoint, or of an older
    UIDVALIDITY, or of an inbox without a checkpoint (deleted)."""
    return checkpoint is None or checkpoint.uidvalidity != uidvalidity or uid <= checkpoint.last_uid


def may_prune(record: MessageRecord, checkpoint: CheckpointPosition | None, cutoff: datetime) -> bool:
    """Whether the message's row can no longer matter and is older than the retention (`cutoff`)."""
    return (
        record.state == "processed"
        and record.processed_at is not None
        and record.processed_at < cutoff
        and record.action_state in (None, "done", "abandoned")
        and (record.action_done_at is None or record.action_done_at < cutoff)
        and behind_checkpoint(record.uidvalidity, record.uid, checkpoint)
    )


def may_prune_attempts(
    uidvalidity: int, uid: int, updated_at: datetime, checkpoint: CheckpointPosition | None, cutoff: datetime
) -> bool:
    """Whether a UID's failed-fetch count can be forgotten."""
    return updated_at < cutoff and behind_checkpoint(uidvalidity, uid, checkpoint)


_BEHIND_CHECKPOINT = "(c.inbox_id IS NULL OR c.uidvalidity <> {t}.uidvalidity OR {t}.uid <= c.last_uid)"

PRUNE_MESSAGES = f"""
DELETE FROM fetcher.messages WHERE id IN (
    SELECT m.id FROM fetcher.messages m
    LEFT JOIN fetcher.checkpoints c ON c.inbox_id = m.inbox_id
    WHERE m.state = 'processed' AND m.processed_at < now() - $1::interval
      AND (m.action_state IS NULL OR m.action_state IN ('done', 'abandoned'))
      AND (m.action_done_at IS NULL OR m.action_done_at < now() - $1::interval)
      AND {_BEHIND_CHECKPOINT.format(t="m")}
    ORDER BY m.processed_at LIMIT $2
    FOR UPDATE OF m SKIP LOCKED)
"""

PRUNE_ATTEMPTS = f"""
DELETE FROM fetcher.fetch_attempts WHERE (inbox_id, uidvalidity, uid) IN (
    SELECT a.inbox_id, a.uidvalidity, a.uid FROM fetcher.fetch_attempts a
    LEFT JOIN fetcher.checkpoints c ON c.inbox_id = a.inbox_id
    WHERE a.updated_at < now() - $1::interval AND {_BEHIND_CHECKPOINT.format(t="a")}
    ORDER BY a.updated_at LIMIT $2
    FOR UPDATE OF a SKIP LOCKED)
"""


async def _delete_in_batches(conn: Executor, statement: str, retention: timedelta, batch_size: int) -> int:
    deleted = 0
    while True:
        status = await conn.execute(statement, retention, batch_size)
        count = int(status.split()[-1])
        deleted += count
        if count < batch_size:
            return deleted


async def prune_records(conn: Executor, retention: timedelta, batch_size: int = BATCH_SIZE) -> CleanupReport:
    """Delete every message row and fetch-attempt count the rule allows (cutoff: the database's
    `now() - retention`); rows a writer holds (an outcome or action being recorded) wait for the next run."""
    messages = await _delete_in_batches(conn, PRUNE_MESSAGES, retention, batch_size)
    attempts = await _delete_in_batches(conn, PRUNE_ATTEMPTS, retention, batch_size)
    return CleanupReport(rows={"fetcher.messages": messages, "fetcher.fetch_attempts": attempts})
