"""The blob collector on real PostgreSQL: the rule's table through the SQL, batches, and a cleanup
racing writers that store the same attachment content again (never a reference to a missing blob)."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import asyncpg
import pytest

from intake.shared.blob_collection import collect_blobs
from intake.shared.blobs import put_blob
from intake.shared.database import Executor, Session
from intake.shared.migrations import migrate, migrate_blobs
from tests.unit.shared.test_blob_collection import CASES, GRACE, Case


async def migrate_everything(conn: Session) -> None:
    """Every schema that refers to blobs, as the three services create them."""
    await migrate_blobs(conn)
    await migrate(conn, "intake.config_api", "config")
    await migrate(conn, "intake.fetcher", "fetcher")
    await migrate(conn, "intake.ingestor", "tracker")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=6)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await migrate_everything(conn)
        yield pool
    finally:
        await pool.close()


_uids = iter(range(1, 1_000_000))


async def refer(conn: Executor, kind: str, sha: str) -> None:
    """Write one reference of `kind` to blob `sha`, as its owning service does."""
    uid = next(_uids)
    if kind == "email_log":
        await conn.execute(
            """INSERT INTO config.email_log (inbox_id, uidvalidity, uid, raw_sha256, logged_at, outcome)
               VALUES (1, 1, $1, $2, now(), 'ignored_sender')""",
            uid,
            sha,
        )
    elif kind == "fetcher_message":
        await conn.execute(
            """INSERT INTO fetcher.messages (inbox_id, uidvalidity, uid, state, raw_sha256, size)
               VALUES (1, 1, $1, 'published', $2, 10)""",
            uid,
            sha,
        )
    elif kind in ("issue_message", "attachment"):
        raw = sha if kind == "issue_message" else "f" * 64
        row_id = await conn.fetchval(
            """WITH issue AS (INSERT INTO tracker.issues (title, inbox_id) VALUES ('t', 1) RETURNING number)
               INSERT INTO tracker.messages (issue_number, inbox_id, uidvalidity, uid, subject, body_text, raw_sha256)
               SELECT number, 1, 1, $1, 's', 'b', $2 FROM issue RETURNING id""",
            uid,
            raw,
        )
        if kind == "attachment":
            await conn.execute(
                """INSERT INTO tracker.attachments (message_row_id, filename, content_type, size, sha256)
                   VALUES ($1, 'a.pdf', 'application/pdf', 10, $2)""",
                row_id,
                sha,
            )
    elif kind == "outcome_only":
        await conn.execute(
            """INSERT INTO tracker.outcomes (inbox_id, uidvalidity, uid, raw_sha256, outcome, reason, attempts)
               VALUES (1, 1, $1, $2, 'ignored_sender', 'r', 1)""",
            uid,
            sha,
        )
    else:
        raise AssertionError(kind)


async def old_blob(conn: Executor, content: bytes, age: timedelta) -> str:
    key = await put_blob(conn, content)
    await conn.execute("UPDATE blobs.blobs SET touched_at = now() - $2::interval WHERE sha256 = $1", key, age)
    return key


async def test_the_rules_table_through_the_sql(pool: asyncpg.Pool) -> None:
    keys: dict[str, tuple[Case, str]] = {}
    for case in CASES:
        key = await old_blob(pool, case.name.encode(), case.age)
        for kind in sorted(case.references):
            await refer(pool, kind, key)
        keys[case.name] = (case, key)
    # The "put in progress" case: another transaction stores the same content and has not committed.
    writer = await pool.acquire()
    transaction = writer.transaction()
    await transaction.start()
    try:
        for case, key in keys.values():
            if case.locked:
                assert await put_blob(writer, case.name.encode()) == key
        async with pool.acquire() as conn:
            collected = await collect_blobs(conn, GRACE, batch_size=3)  # several batches
    finally:
        await transaction.rollback()
        await pool.release(writer)
    left = {row["sha256"] for row in await pool.fetch("SELECT sha256 FROM blobs.blobs")}
    for case, key in keys.values():
        assert (key not in left) is case.deleted, case.name
    deleted = [case for case, _ in keys.values() if case.deleted]
    assert collected.blobs == len(deleted)
    assert collected.bytes == sum(len(case.name.encode()) for case in deleted)
    assert collected.complete


async def test_a_missing_reference_view_deletes_nothing(pool: asyncpg.Pool) -> None:
    await old_blob(pool, b"orphan", timedelta(days=1))
    await pool.execute("DROP VIEW config.blob_references")
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.UndefinedTableError):
            await collect_blobs(conn, GRACE)
    assert await pool.fetchval("SELECT count(*) FROM blobs.blobs") == 1


Put = Callable[[Executor, bytes], Awaitable[str]]


async def put_without_touch(conn: Executor, content: bytes) -> str:
    """The blob store's put before garbage collection existed: ON CONFLICT DO NOTHING takes no lock
    and leaves `touched_at` as it was. The control group of the race below."""
    key = hashlib.sha256(content).hexdigest()
    await conn.execute(
        "INSERT INTO blobs.blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
        key,
        len(content),
        content,
    )
    return key


async def race(pool: asyncpg.Pool, put: Put, rounds: int) -> int:
    """Each round: an attachment whose issue is gone (old, unreferenced) is stored again by a new
    message (put, the rest of the ingestor's transaction, the attachment row, commit) while a
    cleanup runs. Returns how many attachment rows point at a missing blob afterwards."""
    rng = random.Random(15)
    async with pool.acquire() as writer, pool.acquire() as collector:
        for round_ in range(rounds):
            content = b"%PDF-1.7 the same invoice " + str(round_).encode()
            await old_blob(pool, content, timedelta(days=1))

            async def store_again(content: bytes = content) -> None:
                await asyncio.sleep(rng.uniform(0, 0.004))
                async with writer.transaction():
                    key = await put(writer, content)
                    # The ingestor's transaction goes on after the put: the issue, its message, thread
                    # and outcome rows. A cleanup running meanwhile must not take the blob.
                    await writer.execute("SELECT pg_sleep($1)", rng.uniform(0.002, 0.012))
                    await refer(writer, "attachment", key)

            async def clean_up() -> None:
                await asyncio.sleep(rng.uniform(0, 0.008))
                await collect_blobs(collector, timedelta(seconds=60))

            await asyncio.gather(store_again(), clean_up())
    dangling: int = await pool.fetchval(
        """SELECT count(*) FROM tracker.attachments a
           WHERE NOT EXISTS (SELECT FROM blobs.blobs b WHERE b.sha256 = a.sha256)"""
    )
    return dangling


async def test_a_cleanup_never_takes_a_blob_a_new_message_is_storing(pool: asyncpg.Pool) -> None:
    assert await race(pool, put_blob, rounds=300) == 0
    # Every attachment stored in the race is whole.
    rows = await pool.fetch(
        "SELECT a.sha256, b.content FROM tracker.attachments a JOIN blobs.blobs b ON b.sha256 = a.sha256"
    )
    assert len(rows) == 300
    assert all(hashlib.sha256(row["content"]).hexdigest() == row["sha256"] for row in rows)


async def test_without_the_touching_put_the_same_race_loses_blobs(pool: asyncpg.Pool) -> None:
    # Proves the race above can fail: the same rounds with the old put leave dangling references.
    assert await race(pool, put_without_touch, rounds=100) > 0
