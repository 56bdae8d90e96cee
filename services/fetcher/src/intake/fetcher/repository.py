"""The fetcher's rows in PostgreSQL: UID checkpoints, fetched messages, pending mailbox actions.

Schema `fetcher` (DESIGN says `fetch`, but FETCH is a reserved word in PostgreSQL and the shared
migration runner does not quote schema names). Only this module writes it. A message's blob, its
row and the checkpoint move in one transaction, so a crash leaves either all of them or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intake.fetcher.actions import MailboxAction
from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.headers import HeaderSummary
from intake.shared.blobs import STREAM_ABOVE_BYTES, put_blob, put_blob_streamed
from intake.shared.contracts import MessageFetched, MessageProcessed
from intake.shared.database import Executor, Session

# A single connection, whether opened alone or taken from a pool.
# Anything that runs one statement: a connection or the pool.

# How often a failing mailbox action is retried before it is given up (left in the log, not the mailbox).
MAX_ACTION_ATTEMPTS = 20


@dataclass(frozen=True)
class FetchedMessage:
    """A `fetcher.messages` row as far as publishing needs it."""

    id: int
    inbox_id: int
    uidvalidity: int
    uid: int
    raw_sha256: str
    size: int
    message_id: str | None
    sender: str | None
    subject: str | None
    fetched_at: datetime
    rejected: str | None = None

    def event(self) -> MessageFetched:
        return MessageFetched(
            inbox_id=self.inbox_id,
            uidvalidity=self.uidvalidity,
            uid=self.uid,
            raw_sha256=self.raw_sha256,
            size=self.size,
            message_id=self.message_id,
            sender=self.sender,
            subject=self.subject,
            fetched_at=self.fetched_at,
            rejected=self.rejected,
        )


@dataclass(frozen=True)
class PendingAction:
    id: int
    uidvalidity: int
    uid: int
    action: MailboxAction
    attempts: int


_MESSAGE_COLUMNS = "id, inbox_id, uidvalidity, uid, raw_sha256, size, message_id, sender, subject, fetched_at, rejected"


def _message(row: asyncpg.Record) -> FetchedMessage:
    return FetchedMessage(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - asyncpg.Record


async def load_checkpoint(conn: Executor, inbox_id: int) -> Checkpoint | None:
    row = await conn.fetchrow(
        "SELECT uidvalidity, last_uid, initial_scan_until FROM fetcher.checkpoints WHERE inbox_id = $1", inbox_id
    )
    if row is None:
        return None
    return Checkpoint(row["uidvalidity"], row["last_uid"], row["initial_scan_until"])


async def save_checkpoint(conn: Executor, inbox_id: int, checkpoint: Checkpoint) -> None:
    await conn.execute(
        """INSERT INTO fetcher.checkpoints (inbox_id, uidvalidity, last_uid, initial_scan_until)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (inbox_id) DO UPDATE SET uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid,
               initial_scan_until = EXCLUDED.initial_scan_until, updated_at = now()""",
        inbox_id,
        checkpoint.uidvalidity,
        checkpoint.last_uid,
        checkpoint.initial_scan_until,
    )


async def message_known(conn: Executor, inbox_id: int, uidvalidity: int, uid: int) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM fetcher.messages WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = $3",
        inbox_id,
        uidvalidity,
        uid,
    )
    return found is not None


async def store_message(
    pool: asyncpg.Pool,
    inbox_id: int,
    uidvalidity: int,
    uid: int,
    raw: bytes | bytearray,
    summary: HeaderSummary,
    checkpoint: Checkpoint,
    *,
    size: int | None = None,
    rejected: str | None = None,
) -> FetchedMessage | None:
    """Store the blob, the `stored` row and the checkpoint at once; None if the row existed.

    A rejected message stores only what was read of it (its header) with its real `size`.
    """
    async with pool.acquire() as conn, conn.transaction():
        # A large message goes in chunks: as one parameter it would sit in memory about 3 more times.
        sha256 = await (put_blob_streamed if len(raw) > STREAM_ABOVE_BYTES else put_blob)(conn, raw)
        row = await conn.fetchrow(
            f"""INSERT INTO fetcher.messages
                    (inbox_id, uidvalidity, uid, state, raw_sha256, size, message_id, sender, subject, rejected)
                VALUES ($1, $2, $3, 'stored', $4, $5, $6, $7, $8, $9)
                ON CONFLICT (inbox_id, uidvalidity, uid) DO NOTHING
                RETURNING {_MESSAGE_COLUMNS}""",
            inbox_id,
            uidvalidity,
            uid,
            sha256,
            len(raw) if size is None else size,
            summary.message_id,
            summary.sender,
            summary.subject,
            rejected,
        )
        await save_checkpoint(conn, inbox_id, checkpoint)
        await conn.execute(
            "DELETE FROM fetcher.fetch_attempts WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = $3",
            inbox_id,
            uidvalidity,
            uid,
        )
    return _message(row) if row is not None else None


@dataclass(frozen=True)
class FetchAttempts:
    attempts: int
    last_error: str


async def fetch_attempts(
    conn: Executor, inbox_id: int, uidvalidity: int, uids: Sequence[int]
) -> dict[int, FetchAttempts]:
    """Failed reads so far of each of `uids` that has any."""
    rows = await conn.fetch(
        """SELECT uid, attempts, last_error FROM fetcher.fetch_attempts
           WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = ANY($3::bigint[])""",
        inbox_id,
        uidvalidity,
        list(uids),
    )
    return {row["uid"]: FetchAttempts(row["attempts"], row["last_error"]) for row in rows}


async def count_fetch_attempt(conn: Executor, inbox_id: int, uidvalidity: int, uid: int, error: str) -> int:
    """Count one more failed read of a message that still exists; return the attempts so far."""
    attempts: int = await conn.fetchval(
        """INSERT INTO fetcher.fetch_attempts (inbox_id, uidvalidity, uid, attempts, last_error)
           VALUES ($1, $2, $3, 1, $4)
           ON CONFLICT (inbox_id, uidvalidity, uid)
           DO UPDATE SET attempts = fetcher.fetch_attempts.attempts + 1, last_error = EXCLUDED.last_error,
                         updated_at = now()
           RETURNING attempts""",
        inbox_id,
        uidvalidity,
        uid,
        error,
    )
    return attempts


async def unpublished(conn: Executor, inbox_id: int) -> list[FetchedMessage]:
    """Rows committed but not confirmed on the bus (a crash between commit and publish)."""
    rows = await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM fetcher.messages WHERE inbox_id = $1 AND state = 'stored' ORDER BY id",
        inbox_id,
    )
    return [_message(row) for row in rows]


async def mark_published(conn: Executor, message_id: int) -> None:
    # The outcome may already have arrived (a fast ingestor): never move `processed` back.
    await conn.execute(
        "UPDATE fetcher.messages SET state = 'published', published_at = now() WHERE id = $1 AND state = 'stored'",
        message_id,
    )


async def record_outcome(conn: Session, event: MessageProcessed, action: MailboxAction | None) -> bool:
    """Record the ingestor's outcome and, once, the mailbox action owed; False if the row is not ours.

    Idempotent: a redelivered outcome rewrites the same values; an action already pending or done
    is never added again.
    """
    row = await conn.fetchrow(
        """UPDATE fetcher.messages SET
               state = 'processed',
               outcome = $4, reason = $5, processed_at = $6,
               action = CASE WHEN action_state IS NULL THEN $7::text ELSE action END,
               action_state = CASE WHEN action_state IS NULL AND $7::text IS NOT NULL THEN 'pending'
                                   ELSE action_state END
           WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = $3
           RETURNING id""",
        event.inbox_id,
        event.uidvalidity,
        event.uid,
        event.outcome.value,
        event.reason,
        event.processed_at,
        action.value if action is not None else None,
    )
    return row is not None


async def pending_actions(conn: Executor, inbox_id: int, limit: int) -> list[PendingAction]:
    rows = await conn.fetch(
        """SELECT id, uidvalidity, uid, action, action_attempts FROM fetcher.messages
           WHERE inbox_id = $1 AND action_state = 'pending' ORDER BY id LIMIT $2""",
        inbox_id,
        limit,
    )
    return [
        PendingAction(row["id"], row["uidvalidity"], row["uid"], MailboxAction(row["action"]), row["action_attempts"])
        for row in rows
    ]


async def action_done(conn: Executor, message_id: int) -> None:
    await conn.execute(
        """UPDATE fetcher.messages SET action_state = 'done', action_done_at = now(),
               action_attempts = action_attempts + 1, action_error = NULL
           WHERE id = $1""",
        message_id,
    )


async def action_failed(conn: Executor, message_id: int, error: str) -> None:
    """Count a failed attempt; after MAX_ACTION_ATTEMPTS the action is abandoned (stays in the row)."""
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
