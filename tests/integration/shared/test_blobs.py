"""The content-addressed blob store: same bytes stored once, safe under concurrent writers."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg

from intake.shared.blobs import blob_key, get_blob, get_blob_head, put_blob, put_blob_streamed, put_blobs, touch_blob
from intake.shared.migrations import migrate_blobs


async def test_put_get_round_trip_and_dedupe(db: asyncpg.Connection) -> None:
    await migrate_blobs(db)
    content = b"%PDF-1.4\x00\xff binary"
    key = await put_blob(db, content)
    assert key == hashlib.sha256(content).hexdigest()
    assert await put_blob(db, content) == key
    assert await get_blob(db, key) == content
    assert await db.fetchval("SELECT count(*) FROM blobs.blobs") == 1
    assert await get_blob(db, "0" * 64) is None


async def test_concurrent_writers_of_the_same_bytes(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=4, max_size=4)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await migrate_blobs(conn)
        keys = await asyncio.gather(*(put_blob(pool, b"same bytes") for _ in range(20)))
        assert len(set(keys)) == 1
        assert await pool.fetchval("SELECT count(*) FROM blobs.blobs") == 1
    finally:
        await pool.close()


async def test_blob_written_in_a_rolled_back_transaction_is_gone(db: asyncpg.Connection) -> None:
    await migrate_blobs(db)
    tx = db.transaction()
    await tx.start()
    key = await put_blob(db, b"attachment")
    await tx.rollback()
    assert await get_blob(db, key) is None


async def test_streamed_put_round_trip_and_dedupe(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    assert pool is not None
    content = bytearray(bytes(range(256)) * 12_000 + b"\x00tail")  # ~3 MB, not a multiple of a chunk
    try:
        async with pool.acquire() as conn:
            await migrate_blobs(conn)

        async def write() -> str:
            async with pool.acquire() as conn, conn.transaction():
                return await put_blob_streamed(conn, content)

        keys = await asyncio.gather(write(), write())
        again = await write()
        async with pool.acquire() as conn:
            assert keys[0] == keys[1] == again == hashlib.sha256(content).hexdigest()
            assert await get_blob(conn, again) == bytes(content)
            assert await conn.fetchval("SELECT size FROM blobs.blobs WHERE sha256 = $1", again) == len(content)
            assert await conn.fetchval("SELECT count(*) FROM blobs.blobs") == 1
            async with conn.transaction():
                empty = await put_blob_streamed(conn, b"")
            assert await get_blob(conn, empty) == b""
    finally:
        await pool.close()


async def test_put_blobs_stores_many_in_one_statement_in_order_given(db: asyncpg.Connection) -> None:
    """Keys in the order given; repeats within one call and across calls stored once (a repeat in one
    ON CONFLICT DO UPDATE statement would fail); an empty call is a no-op."""
    await migrate_blobs(db)
    contents = [f"attachment {n}".encode() * (n + 1) for n in range(30)]
    assert await put_blobs(db, []) == []
    first = await put_blobs(db, [contents[2], b"\x00\xff", contents[2]])
    assert first == [blob_key(contents[2]), blob_key(b"\x00\xff"), blob_key(contents[2])]
    async with db.transaction():
        keys = await put_blobs(db, contents[::-1])
    assert keys == [blob_key(content) for content in contents[::-1]]
    assert await db.fetchval("SELECT count(*) FROM blobs.blobs") == 31
    for content in contents:
        assert await get_blob(db, blob_key(content)) == content


async def test_the_head_of_a_blob_and_a_touch_without_its_bytes(db: asyncpg.Connection) -> None:
    await migrate_blobs(db)
    key = await put_blob(db, b"Subject: hi\r\n\r\n" + b"x" * 1000)
    await db.execute("UPDATE blobs.blobs SET touched_at = now() - interval '1 day' WHERE sha256 = $1", key)
    assert await get_blob_head(db, key, 11) == b"Subject: hi"
    assert await get_blob_head(db, "0" * 64, 11) is None
    assert await touch_blob(db, key) == 1015
    assert await db.fetchval("SELECT touched_at > now() - interval '1 minute' FROM blobs.blobs") is True
    assert await touch_blob(db, "0" * 64) is None
