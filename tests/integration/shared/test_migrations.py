"""The migration runner against a real PostgreSQL: order, idempotence, concurrency, tamper detection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from intake.shared.migrations import MigrationError, apply_migrations, load_migrations, migrate_blobs


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


async def test_applies_in_order_once(db: asyncpg.Connection, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m",
        {
            "0002_add_column.sql": "ALTER TABLE demo.things ADD COLUMN colour text;",
            "0001_create.sql": "CREATE TABLE demo.things (id int PRIMARY KEY);",
        },
    )
    assert await apply_migrations(db, "demo", load_migrations(folder)) == [1, 2]
    assert await apply_migrations(db, "demo", load_migrations(folder)) == []
    columns = await db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema='demo' AND table_name='things'"
    )
    assert {c["column_name"] for c in columns} == {"id", "colour"}


async def test_replicas_starting_at_once_apply_each_file_once(database_url: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m",
        {"0001_create.sql": "CREATE TABLE demo.counter (n int); INSERT INTO demo.counter VALUES (1);"},
    )
    migrations = load_migrations(folder)

    async def replica() -> list[int]:
        conn = await asyncpg.connect(database_url)
        try:
            return await apply_migrations(conn, "demo", migrations)
        finally:
            await conn.close()

    results = await asyncio.gather(*(replica() for _ in range(5)))
    assert sorted(results) == [[], [], [], [], [1]]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM demo.counter") == 1
    finally:
        await conn.close()


async def test_failed_migration_is_not_recorded(db: asyncpg.Connection, tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"0001_bad.sql": "CREATE TABLE demo.t (id int); SELECT no_such_function();"})
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_migrations(db, "demo", load_migrations(folder))
    assert await db.fetchval("SELECT count(*) FROM demo.schema_migrations") == 0
    assert await db.fetchval("SELECT to_regclass('demo.t')") is None


async def test_edited_migration_stops_the_start(db: asyncpg.Connection, tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"0001_create.sql": "CREATE TABLE demo.t (id int);"})
    await apply_migrations(db, "demo", load_migrations(folder))
    write(folder, {"0001_create.sql": "CREATE TABLE demo.t (id bigint);"})
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await apply_migrations(db, "demo", load_migrations(folder))


@pytest.mark.parametrize(
    ("name", "message"),
    [("1_short.sql", "not named"), ("0001-dash.sql", "not named")],
)
def test_misnamed_files_are_refused(tmp_path: Path, name: str, message: str) -> None:
    folder = write(tmp_path / "m", {name: "SELECT 1;"})
    with pytest.raises(MigrationError, match=message):
        load_migrations(folder)


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="two migration files"):
        load_migrations(folder)


async def test_blob_store_migrations_ship_with_the_package(db: asyncpg.Connection) -> None:
    await migrate_blobs(db)
    assert await db.fetchval("SELECT to_regclass('blobs.blobs')::text") == "blobs.blobs"
