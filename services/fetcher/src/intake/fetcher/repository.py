"""The fetcher's rows in PostgreSQL as fetching and publishing use them: UID checkpoints, fetched
messages (stored, then published), failed reads.

Schema `fetcher` (DESIGN says `fetch`, but FETCH is a reserved word in PostgreSQL and the shared
migration runner does not quote schema names). Its message rows are written here and, for the
outcomes and the mailbox actions they owe, in outcome_records.py (record_retention.py prunes old
ones). A message's blob, its row and the checkpoint move in one transaction, so a crash leaves either
all of them or none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.headers import HeaderSummary
from intake.shared.blobs import STREAM_ABOVE_BYTES, put_blob_streamed, put_blobs
from intake.shared.contracts import MessageFetched
from intake.shared.database import Executor


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
