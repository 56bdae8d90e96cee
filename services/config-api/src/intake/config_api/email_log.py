"""The email log in `config.email_log`: recording the fetch and the outcome of each message, and listing rows.

Both recorders are idempotent upserts keyed by (inbox_id, uidvalidity, uid) and work in either arrival
order: a fetch never overwrites an outcome, and an older outcome never overwrites a newer one.
`email_log_query` (pure) builds the filtered keyset query for a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from intake.config_api.cursors import Position, next_cursor
from intake.config_api.schemas import EmailLogEntry, LogOutcome, Page
from intake.shared.contracts import MessageFetched, MessageProcessed

_RECORD_FETCHED = """
INSERT INTO config.email_log AS log
    (inbox_id, uidvalidity, uid, raw_sha256, message_id, sender, subject, size, fetched_at, logged_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
ON CONFLICT (inbox_id, uidvalidity, uid) DO UPDATE SET
    raw_sha256 = EXCLUDED.raw_sha256,
    message_id = COALESCE(EXCLUDED.message_id, log.message_id),
    sender = EXCLUDED.sender,
    subject = EXCLUDED.subject,
    size = EXCLUDED.size,
    -- A redelivery carries the same time; a re-fetch of the same UID keeps the first.
    fetched_at = LEAST(log.fetched_at, EXCLUDED.fetched_at),
    logged_at = LEAST(log.fetched_at, EXCLUDED.fetched_at),
    updated_at = now()
"""

_RECORD_PROCESSED = """
INSERT INTO config.email_log AS log
    (inbox_id, uidvalidity, uid, raw_sha256, message_id, outcome, reason, issue_number, attempts, processed_at,
     logged_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
ON CONFLICT (inbox_id, uidvalidity, uid) DO UPDATE SET
    message_id = COALESCE(log.message_id, EXCLUDED.message_id),
    outcome = EXCLUDED.outcome,
    reason = EXCLUDED.reason,
    issue_number = EXCLUDED.issue_number,
    attempts = EXCLUDED.attempts,
    processed_at = EXCLUDED.processed_at,
    updated_at = now()
-- `failed` is the one outcome the ingestor never commits (it is published when the last delivery
-- fails, possibly after a commit whose own publish was lost). So a committed outcome always replaces
-- `failed`, and `failed` never replaces a committed one. Otherwise the later outcome wins: a replayed
-- message gets a later outcome, and a redelivered old one must not undo it.
WHERE log.processed_at IS NULL
   OR (log.outcome = 'failed') <> (EXCLUDED.outcome = 'failed') AND EXCLUDED.outcome <> 'failed'
   OR (log.outcome = 'failed') = (EXCLUDED.outcome = 'failed') AND log.processed_at <= EXCLUDED.processed_at
"""

_ROW_COLUMNS = """id, inbox_id, uidvalidity, uid, message_id, sender, subject, size, fetched_at, logged_at,
    processed_at, outcome, reason, issue_number, attempts"""


async def record_fetched(conn: asyncpg.Connection | asyncpg.Pool, event: MessageFetched) -> None:
    """Add the row of a fetched message as `pending`, or complete the fetch fields of an existing row."""
    await conn.execute(
        _RECORD_FETCHED,
        event.inbox_id,
        event.uidvalidity,
        event.uid,
        event.raw_sha256,
        event.message_id,
        event.sender,
        event.subject,
        event.size,
        event.fetched_at,
    )


async def record_processed(conn: asyncpg.Connection | asyncpg.Pool, event: MessageProcessed) -> None:
    """Set the outcome of a message, adding its row when the fetch event has not arrived yet."""
    await conn.execute(
        _RECORD_PROCESSED,
        event.inbox_id,
        event.uidvalidity,
        event.uid,
        event.raw_sha256,
        event.message_id,
        event.outcome.value,
        event.reason,
        event.issue_number,
        event.attempts,
        event.processed_at,
    )


@dataclass(frozen=True)
class EmailLogFilter:
    """What GET /api/v1/email-log narrows the list to; None means no filter."""

    inbox_id: int | None = None
    outcome: LogOutcome | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    sender: str | None = None  # case-insensitive substring of the sender address
    q: str | None = None  # case-insensitive substring of the subject


def like_pattern(text: str) -> str:
    """An ILIKE pattern (with ESCAPE '\\') matching `text` anywhere, wildcards in `text` taken literally.

    >>> like_pattern("50%_off\\\\")
    '%50\\\\%\\\\_off\\\\\\\\%'
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def as_utc(moment: datetime) -> datetime:
    """A naive time from a query string is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def email_log_query(filters: EmailLogFilter, after: Position | None, limit: int) -> tuple[str, list[Any]]:
    """The SQL and arguments for one page: newest first by (logged_at, id), `limit + 1` rows to detect more."""
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if filters.inbox_id is not None:
        clauses.append(f"inbox_id = {arg(filters.inbox_id)}")
    if filters.outcome is not None:
        clauses.append(f"outcome = {arg(filters.outcome.value)}")
    if filters.since is not None:
        clauses.append(f"logged_at >= {arg(as_utc(filters.since))}")
    if filters.until is not None:
        clauses.append(f"logged_at < {arg(as_utc(filters.until))}")
    if filters.sender:
        clauses.append(f"sender ILIKE {arg(like_pattern(filters.sender))} ESCAPE '\\'")
    if filters.q:
        clauses.append(f"subject ILIKE {arg(like_pattern(filters.q))} ESCAPE '\\'")
    if after is not None:
        clauses.append(f"(logged_at, id) < ({arg(after.at)}, {arg(after.id)})")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {_ROW_COLUMNS} FROM config.email_log {where} ORDER BY logged_at DESC, id DESC LIMIT {arg(limit + 1)}"
    return sql, args


def _entry(row: asyncpg.Record) -> EmailLogEntry:
    values = dict(row)
    values["from"] = values.pop("sender")
    del values["logged_at"]
    return EmailLogEntry.model_validate(values)


async def list_email_log(
    conn: asyncpg.Connection | asyncpg.Pool, filters: EmailLogFilter, after: Position | None, limit: int
) -> Page[EmailLogEntry]:
    sql, args = email_log_query(filters, after, limit)
    rows = await conn.fetch(sql, *args)
    cursor = next_cursor([Position(row["logged_at"], row["id"]) for row in rows], limit)
    return Page[EmailLogEntry](items=[_entry(row) for row in rows[:limit]], next_cursor=cursor)
