"""The content-addressed blob store in PostgreSQL (schema `blobs`): raw messages and attachments.

A blob's key is the SHA-256 of its bytes, so the same content is stored once and concurrent writers
of the same bytes are safe (`ON CONFLICT`). Callers pass their own connection so a blob can be
written in the same transaction as the rows that refer to it: they must, or at least within the
garbage collector's grace period. Every put of content already stored moves its `touched_at` and
holds its row lock until the transaction ends (`ON_CONFLICT_TOUCH`), which is what keeps the
collector (`blob_collection.py`) from deleting a blob a writer is about to refer to.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence

from intake.shared.database import Executor, Session

# The conflict clause of every INSERT into blobs.blobs: content already stored is "put" again, which
# refreshes its grace period and locks its row until the writer commits (see blob_collection.py).
# A DO NOTHING here would let the collector delete the blob under a writer about to refer to it.
ON_CONFLICT_TOUCH = "ON CONFLICT (sha256) DO UPDATE SET touched_at = clock_timestamp()"


def content_join(key: str, alias: str) -> str:
    """The SQL that joins a query to the blob stored under `key` (an SQL expression: a parameter or a
    column), as `alias` with the columns `content` and `size` (NULL when there is no such blob).

    For a read that needs a row and its bytes in one round trip (the ingestor reads a message's stored
    outcome with its raw bytes), so that no other module names the blob table.

    >>> content_join("$4", "b")
    'LEFT JOIN blobs.blobs b ON b.sha256 = $4'
    """
    return f"LEFT JOIN blobs.blobs {alias} ON {alias}.sha256 = {key}"


def blob_key(content: bytes | bytearray) -> str:
    """The key of `content`: its SHA-256 as 64 lowercase hex digits."""
    return hashlib.sha256(content).hexdigest()


async def put_blob(conn: Executor, content: bytes | bytearray) -> str:
    """Store `content` once and return its key."""
    key = blob_key(content)
    await conn.execute(
        f"INSERT INTO blobs.blobs (sha256, size, content) VALUES ($1, $2, $3) {ON_CONFLICT_TOUCH}",
        key,
        len(content),
        content,
    )
    return key


async def put_blobs(conn: Executor, contents: Sequence[bytes | bytearray]) -> list[str]:
    """Store each of `contents` once in one statement (one round trip); their keys, in the order given.

    Each content is hashed once; repeats are sent once (an ON CONFLICT DO UPDATE may not touch one
    row twice), and rows are written in key order, so two writers of overlapping sets lock the rows
    they share in the same order and cannot deadlock."""
    keys = [blob_key(content) for content in contents]
    unique = sorted(dict(zip(keys, contents, strict=True)).items())
    if unique:
        await conn.execute(
            f"""INSERT INTO blobs.blobs (sha256, size, content)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[]) ORDER BY 1
                {ON_CONFLICT_TOUCH}""",
            [key for key, _ in unique],
            [len(content) for _, content in unique],
            [content for _, content in unique],
        )
    return keys


async def get_blob(conn: Executor, key: str) -> bytes | None:
    """The bytes stored under `key`, or None when there is no such blob."""
    content: bytes | None = await conn.fetchval("SELECT content FROM blobs.blobs WHERE sha256 = $1", key)
    return content


async def get_blob_head(conn: Executor, key: str, size: int) -> bytes | None:
    """The first `size` bytes stored under `key` (PostgreSQL cuts them; the rest never leaves the server),
    or None when there is no such blob."""
    head: bytes | None = await conn.fetchval(
        "SELECT substring(content FROM 1 FOR $2) FROM blobs.blobs WHERE sha256 = $1", key, size
    )
    return head


async def touch_blob(conn: Executor, key: str) -> int | None:
    """Put the blob under `key` again without its bytes: restart its grace period and hold its row
    against the collector until the transaction ends (as `ON_CONFLICT_TOUCH` does). Its size, or None
    when there is no such blob."""
    size: int | None = await conn.fetchval(
        "UPDATE blobs.blobs SET touched_at = clock_timestamp() WHERE sha256 = $1 RETURNING size", key
    )
    return size


# Above this size `put_blob_streamed` is worth its extra statements.
STREAM_ABOVE_BYTES = 1024 * 1024
_STREAM_CHUNK_BYTES = 256 * 1024
# PostgreSQL's binary COPY format (COPY … WITH (FORMAT binary)): signature, flags, header extension.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


async def put_blob_streamed(conn: Session, content: bytes | bytearray) -> str:
    """Store `content` once and return its key, sending it in chunks (a large raw message).

    `put_blob` passes the bytes as one query parameter, which the driver and the socket's send
    buffer each copy whole (about 3x the content in memory at once). Here the content goes through
    binary COPY into a session temp table in 256 KiB pieces, then server-side into `blobs.blobs`
    with `ON_CONFLICT_TOUCH` (COPY itself has no ON CONFLICT). Needs a transaction.
    """
    key = blob_key(content)
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS blob_upload (sha256 text, size bigint, content bytea)
           ON COMMIT DELETE ROWS"""
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield (
            _COPY_HEADER
            + (3).to_bytes(2, "big")
            + len(key).to_bytes(4, "big")
            + key.encode("ascii")
            + (8).to_bytes(4, "big")
            + len(content).to_bytes(8, "big")
            + len(content).to_bytes(4, "big")
        )
        view = memoryview(content)
        for start in range(0, len(content), _STREAM_CHUNK_BYTES):
            yield bytes(view[start : start + _STREAM_CHUNK_BYTES])  # the driver takes bytes only
        yield _COPY_TRAILER

    await conn.copy_to_table("blob_upload", source=chunks(), columns=["sha256", "size", "content"], format="binary")
    await conn.execute(
        f"""INSERT INTO blobs.blobs (sha256, size, content)
            SELECT sha256, size, content FROM blob_upload WHERE sha256 = $1 LIMIT 1
            {ON_CONFLICT_TOUCH}""",
        key,
    )
    await conn.execute("DELETE FROM blob_upload")
    return key
