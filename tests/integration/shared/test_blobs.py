"""The content-addressed blob store: same bytes stored once, safe under concurrent writers."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg

from intake.shared.blobs import get_blob, put_blob
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
