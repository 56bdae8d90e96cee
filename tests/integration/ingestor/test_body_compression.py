"""Stored message bodies are compressed with lz4 (tracker migration 0040), not PostgreSQL's default pglz."""

from __future__ import annotations

import asyncpg

from intake.shared.migrations import migrate, migrate_blobs


async def test_message_bodies_use_lz4(db: asyncpg.Connection) -> None:
    await migrate_blobs(db)
    await migrate(db, "intake.ingestor", "tracker")
    methods = dict(
        await db.fetch(
            """SELECT attname, attcompression::text FROM pg_attribute
               WHERE attrelid = 'tracker.messages'::regclass AND attname IN ('body_text', 'body_html')"""
        )
    )
    assert methods == {"body_text": "l", "body_html": "l"}
