"""The fetcher's rows in PostgreSQL: UID checkpoints, fetched messages, pending mailbox actions.

Schema `fetcher` (DESIGN says `fetch`, but FETCH is a reserved word in PostgreSQL and the shared
migration runner does not quote schema names). Only this module writes it. A message's blob, its
row and the checkpoint move in one transaction, so a crash leaves either all of them or none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.headers import HeaderSummary
from intake.fetcher.outcome_rules import MAX_ACTION_ATTEMPTS
from intake.shared.blobs import STREAM_ABOVE_BYTES, put_blob_streamed, put_blobs
from intake.shared.contracts import MessageFetched, MessageProcessed
from intake.shared.database import Executor, Session
from intake.shared.inbox_vocabulary import ProcessedAction


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
    correlation_id: str | None = None
    internal_date: datetime | None = None

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
            received_at=self.internal_date,
        )

    def log_fields(self) -> dict[str, object]:
        """What a log line about this message names it by (never its sender or subject)."""
        return {"uid": self.uid, "message_id": self.message_id, "correlation_id": self.correlation_id}


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


_MESSAGE_COLUMNS = (
    "id, inbox_id, uidvalidity, uid, raw_sha256, size, message_id, sender, subject, fetched_at, rejected, "
    "correlation_id, internal_date"
)


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


async def known_uids(conn: Executor, inbox_id: int, uidvalidity: int, uids: Sequence[int]) -> set[int]:
    """Which of `uids` already have a row (in flight or done: never stored or published again)."""
    rows = await conn.fetch(
        """SELECT uid FROM fetcher.messages
           WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = ANY($3::bigint[])""",
        inbox_id,
        uidvalidity,
        list(uids),
    )
    return {row["uid"] for row in rows}


@dataclass(frozen=True)
class NewMessage:
    """A message read from the mailbox, to be stored. A rejected one carries only what was read of it
    (its header, or nothing) and its real `size`."""

    uid: int
    raw: bytes | bytearray
    summary: HeaderSummary
    size: int | None = None  # None: len(raw)
    rejected: str | None = None
    internal_date: datetime | None = None  # its IMAP INTERNALDATE, when the server sent one


async def store_messages(
    pool: asyncpg.Pool, inbox_id: int, uidvalidity: int, messages: Sequence[NewMessage], checkpoint: Checkpoint
) -> list[FetchedMessage]:
    """Store the blobs, the `stored` rows and the checkpoint in one transaction; return the rows
    that are new (a UID that already had a row is left as it was), in UID order.

    Small blobs and all rows go in one multi-row statement each; a blob over STREAM_ABOVE_BYTES goes
    alone in chunks (as one parameter it would sit in memory about 3 more times).
    """
    keys: dict[int, str] = {}
    small = [message for message in messages if len(message.raw) <= STREAM_ABOVE_BYTES]
    # Each message's correlation id, given here once and kept in its row (logged and published with it).
    correlations = [uuid.uuid4().hex for _ in messages]
    async with pool.acquire() as conn, conn.transaction():
        for message in messages:
            if len(message.raw) > STREAM_ABOVE_BYTES:
                keys[message.uid] = await put_blob_streamed(conn, message.raw)
        # One statement for all the small ones, in key order (`blobs.put_blobs`).
        keys.update(zip((message.uid for message in small), await put_blobs(conn, [m.raw for m in small]), strict=True))
        rows = await conn.fetch(
            f"""INSERT INTO fetcher.messages
                    (inbox_id, uidvalidity, uid, state, raw_sha256, size, message_id, sender, subject, rejected,
                     correlation_id, internal_date)
                SELECT $1, $2, uid, 'stored', sha256, size, message_id, sender, subject, rejected, correlation_id,
                    internal_date
                FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],
                            $10::text[], $11::timestamptz[])
                    AS new (uid, sha256, size, message_id, sender, subject, rejected, correlation_id, internal_date)
                ON CONFLICT (inbox_id, uidvalidity, uid) DO NOTHING
                RETURNING {_MESSAGE_COLUMNS}""",
            inbox_id,
            uidvalidity,
            [message.uid for message in messages],
            [keys[message.uid] for message in messages],
            [len(message.raw) if message.size is None else message.size for message in messages],
            [message.summary.message_id for message in messages],
            [message.summary.sender for message in messages],
            [message.summary.subject for message in messages],
            [message.rejected for message in messages],
            correlations,
            [message.internal_date for message in messages],
        )
        await save_checkpoint(conn, inbox_id, checkpoint)
        await conn.execute(
            "DELETE FROM fetcher.fetch_attempts WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = ANY($3::bigint[])",
            inbox_id,
            uidvalidity,
            [message.uid for message in messages],
        )
    return sorted((_message(row) for row in rows), key=lambda message: message.uid)


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


async def mark_published(conn: Executor, message_ids: Sequence[int]) -> None:
    """Mark rows confirmed on the bus. The outcome may already have arrived (a fast ingestor): a row
    is never moved back from `processed`."""
    await conn.execute(
        """UPDATE fetcher.messages SET state = 'published', published_at = now()
           WHERE id = ANY($1::bigint[]) AND state = 'stored'""",
        list(message_ids),
    )


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
