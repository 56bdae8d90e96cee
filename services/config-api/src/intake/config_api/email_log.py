"""The email log in `config.email_log`: listing, showing and reprocessing rows, and deleting rows past the
retention period. Recording the events that build it is `email_log_recording`; the filtered keyset query
for a page is built by `email_log_filters` (pure).

The raw message is read from the blob store, the issue from the tracker's view; both may be missing,
which is shown, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from intake.config_api.cursors import Position, next_cursor
from intake.config_api.email_log_filters import ROW_COLUMNS, EmailLogFilter, email_log_query
from intake.config_api.email_log_rules import RawState, raw_state, reprocess_refusal
from intake.config_api.email_log_schemas import EmailLogDetail, EmailLogEntry, HeaderField, IssueRef
from intake.config_api.errors import BusUnavailable, Conflict, NotFound
from intake.config_api.raw_headers import MAX_HEADER_BYTES, header_fields
from intake.config_api.schemas import Page
from intake.shared import blobs, topology
from intake.shared.contracts import MessageFetched
from intake.shared.database import Executor
from intake.shared.event_publisher import EventPublisher

log = structlog.get_logger(__name__)

# Another schema's table or view that is not there (yet): shown as missing, never a server error.
_MISSING_RELATION = (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError, asyncpg.UndefinedColumnError)


def entry_from_row(row: asyncpg.Record | Mapping[str, Any]) -> EmailLogEntry:
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
    return Page[EmailLogEntry](items=[entry_from_row(row) for row in rows[:limit]], next_cursor=cursor)


_DETAIL_COLUMNS = f"""{ROW_COLUMNS}, raw_sha256, fetch_rejected, reprocessed_at, reprocessed_from, correlation_id"""


def _not_found(entry_id: int) -> NotFound:
    return NotFound(f"no email log entry with id {entry_id}")


async def _blob_head(conn: Executor, sha256: str) -> bytes | None:
    """The first MAX_HEADER_BYTES of a stored blob (the header section is within), or None when there is none."""
    try:
        return await blobs.get_blob_head(conn, sha256, MAX_HEADER_BYTES)
    except _MISSING_RELATION:
        return None


async def _issue(conn: Executor, number: int | None) -> IssueRef | None:
    if number is None:
        return None
    try:
        row = await conn.fetchrow("SELECT number, title, status FROM tracker.issue_view WHERE number = $1", number)
    except _MISSING_RELATION:
        return None
    return None if row is None else IssueRef(number=row["number"], title=row["title"], status=row["status"])


async def get_email_log_entry(pool: asyncpg.Pool, entry_id: int) -> EmailLogDetail:
    """One row with its stored raw message's header fields, the issue it names, and whether it may be reprocessed."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {_DETAIL_COLUMNS} FROM config.email_log WHERE id = $1", entry_id)
        if row is None:
            raise _not_found(entry_id)
        head = await _blob_head(conn, row["raw_sha256"])
        issue = await _issue(conn, row["issue_number"])
    state = raw_state(row["fetch_rejected"], head is not None)
    refusal = reprocess_refusal(row["outcome"], row["issue_number"], state, row["fetch_rejected"])
    entry = entry_from_row(row)
    return EmailLogDetail(
        **entry.model_dump(),
        headers=[HeaderField(name=f.name, value=f.value) for f in header_fields(head or b"")],
        raw_state=state,
        fetch_rejected=row["fetch_rejected"],
        issue=issue,
        reprocessable=refusal is None,
        reprocess_refusal=refusal,
        reprocessed_at=row["reprocessed_at"],
        reprocessed_from=row["reprocessed_from"],
        correlation_id=row["correlation_id"],
    )


@dataclass(frozen=True)
class RawMessage:
    """A logged message's stored bytes: all of it, or only its header when the fetcher rejected it."""

    entry_id: int
    state: RawState
    content: bytes
    fetch_rejected: str | None


async def read_raw_message(pool: asyncpg.Pool, entry_id: int) -> RawMessage:
    """The stored raw message of a row; NotFound when there is no such row or the blob store lacks it."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT raw_sha256, fetch_rejected FROM config.email_log WHERE id = $1", entry_id)
        if row is None:
            raise _not_found(entry_id)
        try:
            content = await blobs.get_blob(conn, row["raw_sha256"])
        except _MISSING_RELATION:
            content = None
    if content is None:
        raise NotFound(f"the raw message of email log entry {entry_id} is not in the blob store")
    state = raw_state(row["fetch_rejected"], blob_stored=True)
    return RawMessage(entry_id, state, content, row["fetch_rejected"])


_REPROCESS = f"""
UPDATE config.email_log SET
    outcome = 'pending',
    reason = 'reprocessing requested (was ' || outcome || coalesce(': ' || reason, '') || ')',
    reprocessed_from = outcome,
    reprocessed_at = now(),
    updated_at = now()
WHERE id = $1
RETURNING {ROW_COLUMNS}"""


async def reprocess(pool: asyncpg.Pool, publisher: EventPublisher, entry_id: int) -> EmailLogEntry:
    """Make a failed, rejected or skipped row `pending` again and publish its message.fetched with `replay`.

    The row stays locked until RabbitMQ confirmed the publish, so the new outcome cannot be recorded
    before the row is pending; a publish that fails rolls the change back (BusUnavailable). `attempts`,
    the fetch fields and the raw message stay as they are. Refused (Conflict) for other outcomes and for
    a message whose raw bytes are not stored.
    """
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """SELECT inbox_id, uidvalidity, uid, raw_sha256, message_id, sender, subject, size, fetched_at,
                      logged_at, outcome, issue_number, fetch_rejected, correlation_id
               FROM config.email_log WHERE id = $1 FOR UPDATE""",
            entry_id,
        )
        if row is None:
            raise _not_found(entry_id)
        try:
            # Touching the raw blob (a put of it, see intake.shared.blob_collection) holds it against the
            # blob collector until the commit and restarts its grace period: the replay is processed
            # within it even if this row's retention ends meanwhile.
            size = await blobs.touch_blob(conn, row["raw_sha256"])
        except _MISSING_RELATION:
            raise Conflict(reprocess_refusal("failed", None, RawState.MISSING, None) or "") from None
        state = raw_state(row["fetch_rejected"], size is not None)
        refusal = reprocess_refusal(row["outcome"], row["issue_number"], state, row["fetch_rejected"])
        if refusal is not None:
            raise Conflict(refusal)
        updated = await conn.fetchrow(_REPROCESS, entry_id)
        assert updated is not None
        event = MessageFetched(
            inbox_id=row["inbox_id"],
            uidvalidity=row["uidvalidity"],
            uid=row["uid"],
            raw_sha256=row["raw_sha256"],
            size=row["size"] if row["size"] is not None else size,
            message_id=row["message_id"],
            sender=row["sender"],
            subject=row["subject"],
            fetched_at=row["fetched_at"] or row["logged_at"],
            replay=True,
        )
        try:
            # The message's own correlation id: the reprocess's log lines join its earlier ones.
            await publisher.publish(event, topology.MESSAGE_FETCHED, correlation=row["correlation_id"])
        except Exception as error:
            log.error("reprocess not published", entry_id=entry_id, error=f"{type(error).__name__}: {error}")
            raise BusUnavailable("the message bus did not take the message; nothing changed, try again") from None
    log.info(
        "reprocess requested",
        entry_id=entry_id,
        inbox_id=event.inbox_id,
        uid=event.uid,
        message_id=event.message_id,
        correlation_id=row["correlation_id"],
        was=row["outcome"],
    )
    return entry_from_row(updated)


async def delete_expired(pool: asyncpg.Pool, older_than: datetime, batch_size: int) -> int:
    """Delete the rows logged before `older_than`, `batch_size` at a time (short transactions, small locks);
    return how many. Rows another transaction holds (a reprocess) are left for the next run."""
    deleted = 0
    while True:
        status = await pool.execute(
            """DELETE FROM config.email_log WHERE id IN (
                   SELECT id FROM config.email_log WHERE logged_at < $1
                   ORDER BY logged_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
            older_than,
            batch_size,
        )
        count = int(status.split()[-1])
        deleted += count
        if count < batch_size:
            return deleted
