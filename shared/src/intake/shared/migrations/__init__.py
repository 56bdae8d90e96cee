"""The migration runner: numbered SQL files per schema, applied in order at service start.

Each schema's files live in one package folder (`0001_name.sql`, `0002_name.sql`, ...). Replicas that
start at once are serialised by a PostgreSQL advisory lock, so each file is applied exactly once.
A file that was applied is never edited: its SHA-256 is recorded and a changed file stops the start.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import structlog

from intake.shared.database import Session

log = structlog.get_logger(__name__)

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Key space for advisory locks taken by the runner: one lock per schema (hashtext of the name).
_LOCK_NAMESPACE = 0x1A7A


class MigrationError(Exception):
    """The migration files or the recorded history are inconsistent; the service must not start."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Traversable) -> list[Migration]:
    """The migrations in `folder`, ordered by version; a misnamed or duplicate file is an error."""
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two migration files have version {version:04d}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def package_migrations(package: str, schema: str) -> list[Migration]:
    """The migrations shipped in `package`'s `migrations/<schema>/` folder."""
    return load_migrations(files(package).joinpath("migrations", schema))


async def apply_migrations(conn: Session, schema: str, migrations: list[Migration]) -> list[int]:
    """Create `schema` if needed and apply the migrations not yet recorded there; return their versions."""
    if not _SCHEMA_NAME.match(schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", _LOCK_NAMESPACE, schema)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch(f"SELECT version, name, checksum FROM {schema}.schema_migrations")
        applied = {row["version"]: row for row in rows}
        done: list[int] = []
        for migration in migrations:
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{schema} migration {migration.version:04d}_{migration.name} changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    f"INSERT INTO {schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration applied", schema=schema, version=migration.version, name=migration.name)
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", _LOCK_NAMESPACE, schema)


async def migrate(conn: Session, package: str, *schemas: str) -> None:
    """Apply the migrations that `package` ships for each of `schemas`, in the order given."""
    for schema in schemas:
        await apply_migrations(conn, schema, package_migrations(package, schema))


async def migrate_blobs(conn: Session) -> None:
    """Apply the blob store's own migrations (every service that writes blobs calls this)."""
    await migrate(conn, "intake.shared", "blobs")
