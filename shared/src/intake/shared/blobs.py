"""The content-addressed blob store in PostgreSQL (schema `blobs`): raw messages and attachments.

A blob's key is the SHA-256 of its bytes, so the same content is stored once and concurrent writers
of the same bytes are safe (`ON CONFLICT DO NOTHING`). Callers pass their own connection so a blob
can be written in the same transaction as the rows that refer to it.
"""

from __future__ import annotations

import hashlib

from intake.shared.database import Executor


def blob_key(content: bytes) -> str:
    """The key of `content`: its SHA-256 as 64 lowercase hex digits."""
    return hashlib.sha256(content).hexdigest()


async def put_blob(conn: Executor, content: bytes) -> str:
    """Store `content` once and return its key."""
    key = blob_key(content)
    await conn.execute(
        "INSERT INTO blobs.blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
        key,
        len(content),
        content,
    )
    return key


async def get_blob(conn: Executor, key: str) -> bytes | None:
    """The bytes stored under `key`, or None when there is no such blob."""
    content: bytes | None = await conn.fetchval("SELECT content FROM blobs.blobs WHERE sha256 = $1", key)
    return content
