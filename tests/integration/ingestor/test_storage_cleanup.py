"""The ingestor's cleanup run: expired dedupe keys go, recent ones stay, and blobs are collected only
once every service's reference view exists."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from intake.ingestor.storage_cleanup import StorageCleanup
from intake.shared.blobs import put_blob
from intake.shared.cleanup_metrics import CleanupReport
from intake.shared.migrations import migrate, migrate_blobs


async def test_outcomes_and_blobs(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await migrate_blobs(conn)
            await migrate(conn, "intake.ingestor", "tracker")
        orphan = await put_blob(pool, b"a newsletter nobody refers to")
        await pool.execute("UPDATE blobs.blobs SET touched_at = now() - interval '1 day'")
        await pool.executemany(
            """INSERT INTO tracker.outcomes (inbox_id, uidvalidity, uid, raw_sha256, outcome, reason, attempts,
                                             processed_at)
               VALUES (1, 1, $1, $2, 'ignored_sender', 'r', 1, now() - $3::interval)""",
            [(1, orphan, timedelta(days=100)), (2, orphan, timedelta(days=10))],
        )
        cleanup = StorageCleanup(pool, outcome_retention=timedelta(days=90), blob_grace=timedelta(hours=1))

        # config-api and the fetcher have not created their views yet: the old dedupe key goes, no blob.
        assert await cleanup() == CleanupReport(rows={"tracker.outcomes": 1})
        assert await pool.fetchval("SELECT count(*) FROM blobs.blobs") == 1
        assert [r["uid"] for r in await pool.fetch("SELECT uid FROM tracker.outcomes")] == [2]

        async with pool.acquire() as conn:
            await migrate(conn, "intake.config_api", "config")
            await migrate(conn, "intake.fetcher", "fetcher")
        report = await cleanup()
        assert report == CleanupReport(
            rows={"tracker.outcomes": 0}, blobs=1, bytes=len(b"a newsletter nobody refers to")
        )
        assert await pool.fetchval("SELECT count(*) FROM blobs.blobs") == 0

        # Outcomes kept for ever (retention 0): only blobs are collected.
        keep = StorageCleanup(pool, outcome_retention=None, blob_grace=timedelta(hours=1))
        assert (await keep()).rows == {"tracker.outcomes": 0}
        assert await pool.fetchval("SELECT count(*) FROM tracker.outcomes") == 1
    finally:
        await pool.close()
