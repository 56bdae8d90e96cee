"""Reading issues, messages and attachments through the ingestor's read-only views in schema `tracker`.

Only `tracker.issue_view`, `tracker.message_view` and `tracker.attachment_view` are read, with exactly
the columns agreed with the ingestor. Views that are missing (the ingestor has not migrated yet) or
changed make `TrackerUnavailable`, which the API answers with 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from intake.config_api.cursors import Position, next_cursor
from intake.config_api.errors import NotFound, TrackerUnavailable
from intake.config_api.schemas import Attachment, Issue, IssueSummary, Message, Page, Person
from intake.shared.blobs import get_blob

_ISSUE_COLUMNS = """number, title, status, issue_type_id, language, assigned_user_id, assigned_organisation_id,
    requester_email, requester_name, inbox_id, created_at, updated_at"""
_MESSAGE_COLUMNS = """id, issue_number, message_id, from_address, from_name, to_addresses, cc_addresses, subject,
    sent_at, body_text, created_at"""
_ATTACHMENT_COLUMNS = "id, message_id, filename, content_type, size, sha256, inline, content_id"


@asynccontextmanager
async def _reading_tracker() -> AsyncIterator[None]:
    try:
        yield
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError, asyncpg.UndefinedColumnError) as error:
        raise TrackerUnavailable(
            "issues are not available yet: the ingestor's tracker views (or the blob store) are missing"
            f" or have changed ({error.sqlstate}: {error.message})"
        ) from None


def _summary_values(row: asyncpg.Record) -> dict[str, Any]:
    values = dict(row)
    values["requester"] = Person(email=values.pop("requester_email"), name=values.pop("requester_name"))
    return values


async def list_issues(pool: asyncpg.Pool, after: Position | None, limit: int) -> Page[IssueSummary]:
    """One page of issues, newest first by (created_at, number), without their messages."""
    async with _reading_tracker():
        if after is None:
            rows = await pool.fetch(
                f"SELECT {_ISSUE_COLUMNS} FROM tracker.issue_view ORDER BY created_at DESC, number DESC LIMIT $1",
                limit + 1,
            )
        else:
            rows = await pool.fetch(
                f"""SELECT {_ISSUE_COLUMNS} FROM tracker.issue_view WHERE (created_at, number) < ($1, $2)
                    ORDER BY created_at DESC, number DESC LIMIT $3""",
                after.at,
                after.id,
                limit + 1,
            )
    cursor = next_cursor([Position(row["created_at"], row["number"]) for row in rows], limit)
    return Page[IssueSummary](items=[IssueSummary(**_summary_values(row)) for row in rows[:limit]], next_cursor=cursor)


async def get_issue(pool: asyncpg.Pool, number: int) -> Issue:
    """The issue with its messages (oldest first) and their attachments, read from one snapshot."""
    async with _reading_tracker(), pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        issue = await conn.fetchrow(f"SELECT {_ISSUE_COLUMNS} FROM tracker.issue_view WHERE number = $1", number)
        if issue is None:
            raise NotFound(f"no issue with number {number}")
        messages = await conn.fetch(
            f"SELECT {_MESSAGE_COLUMNS} FROM tracker.message_view WHERE issue_number = $1 ORDER BY created_at, id",
            number,
        )
        attachments = await conn.fetch(
            f"SELECT {_ATTACHMENT_COLUMNS} FROM tracker.attachment_view WHERE message_id = ANY($1) ORDER BY id",
            [m["id"] for m in messages],
        )
    by_message: dict[int, list[Attachment]] = {}
    for row in attachments:
        values = dict(row)
        by_message.setdefault(values.pop("message_id"), []).append(Attachment(**values))
    return Issue(
        **_summary_values(issue),
        messages=[
            Message.model_validate(
                {
                    "id": m["id"],
                    "message_id": m["message_id"],
                    "from": Person(email=m["from_address"], name=m["from_name"]),
                    "to": list(m["to_addresses"] or []),
                    "cc": list(m["cc_addresses"] or []),
                    "subject": m["subject"],
                    "date": m["sent_at"],
                    "body_text": m["body_text"],
                    "attachments": by_message.get(m["id"], []),
                }
            )
            for m in messages
        ],
    )


@dataclass(frozen=True)
class StoredAttachment:
    """Where an attachment's bytes are (blob key) and how to describe them to a client."""

    filename: str | None
    content_type: str | None
    sha256: str


async def read_attachment(pool: asyncpg.Pool, attachment_id: int) -> tuple[StoredAttachment, bytes]:
    """An attachment's description and its bytes from the blob store."""
    async with _reading_tracker():
        row = await pool.fetchrow(
            "SELECT filename, content_type, sha256 FROM tracker.attachment_view WHERE id = $1", attachment_id
        )
        if row is None:
            raise NotFound(f"no attachment with id {attachment_id}")
        attachment = StoredAttachment(filename=row["filename"], content_type=row["content_type"], sha256=row["sha256"])
        content = await get_blob(pool, attachment.sha256)
    if content is None:
        raise NotFound(f"the content of attachment {attachment_id} is missing from the blob store")
    return attachment, content
