"""The rows the ingestor's one-message SQL (`repository.py`) and batch SQL (`batch_repository.py`) share:
a message's columns and values, its attachments (bytes in the shared blob store), an issue's title, and an
outcome row read back as `MessageProcessed`. Defined once, so both paths store the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from intake.ingestor.parsing import ParsedMessage
from intake.shared.blobs import STREAM_ABOVE_BYTES, put_blob_streamed, put_blobs
from intake.shared.contracts import MessageProcessed, MessageRef, Outcome
from intake.shared.database import Session

NO_SUBJECT_TITLE = "(no subject)"


def processed_of(row: asyncpg.Record) -> MessageProcessed:
    """An outcome row (of `tracker.outcomes`) as the `MessageProcessed` it records."""
    return MessageProcessed(
        inbox_id=row["inbox_id"],
        uidvalidity=row["uidvalidity"],
        uid=row["uid"],
        raw_sha256=row["raw_sha256"],
        message_id=row["message_id"],
        outcome=Outcome(row["outcome"]),
        reason=row["reason"],
        issue_number=row["issue_number"],
        attempts=row["attempts"],
        processed_at=row["processed_at"],
    )


def issue_title_of(message: ParsedMessage) -> str:
    """A new issue's title: the message's subject, or `NO_SUBJECT_TITLE`."""
    return _text(message.subject.strip()) or NO_SUBJECT_TITLE


MESSAGE_COLUMNS = """(issue_number, inbox_id, uidvalidity, uid, message_id, from_address, from_name,
    to_addresses, cc_addresses, subject, sent_at, body_text, body_html, raw_sha256)"""


def message_values(ref: MessageRef, raw_sha256: str, message: ParsedMessage) -> tuple[Any, ...]:
    """The values of `MESSAGE_COLUMNS` after issue_number."""
    return (
        ref.inbox_id,
        ref.uidvalidity,
        ref.uid,
        message.message_id,
        message.sender.address if message.sender else None,
        (message.sender.name or None) if message.sender else None,
        list(message.to),
        list(message.cc),
        _text(message.subject),
        message.date,
        _text(message.body_text),
        _text(message.body_html) if message.body_html is not None else None,
        raw_sha256,
    )


async def add_attachments_many(conn: Session, messages: Sequence[tuple[int, ParsedMessage]]) -> None:
    """Store the attachments of each (message row id, message): the bytes in the blob store (each hashed
    once; large ones streamed, the rest in one statement), then the rows in one statement."""
    attachments = [(row_id, attachment) for row_id, message in messages for attachment in message.attachments]
    if not attachments:
        return
    small = [a.content for _, a in attachments if len(a.content) <= STREAM_ABOVE_BYTES]
    small_keys = iter(await put_blobs(conn, small))
    keys = [
        await put_blob_streamed(conn, a.content) if len(a.content) > STREAM_ABOVE_BYTES else next(small_keys)
        for _, a in attachments
    ]
    await conn.execute(
        """INSERT INTO tracker.attachments (message_row_id, filename, content_type, size, sha256, inline, content_id)
           SELECT m, f, t, s, k, i, c
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::boolean[], $7::text[])
               WITH ORDINALITY AS a(m, f, t, s, k, i, c, ord)
           ORDER BY ord""",
        [row_id for row_id, _ in attachments],
        [_text(a.filename) for _, a in attachments],
        [a.content_type for _, a in attachments],
        [len(a.content) for _, a in attachments],
        keys,
        [a.inline for _, a in attachments],
        [_text(a.content_id) if a.content_id else None for _, a in attachments],
    )


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; decoded mail (and replacement of bad bytes) can contain it.
    return value.replace("\x00", "\ufffd")
