"""What the end-to-end tests search for secrets in clear: every stored row of every Intake schema, as text."""

from __future__ import annotations

import asyncpg


async def database_text(
    database_url: str, schemas: frozenset[str] = frozenset({"config", "fetcher", "tracker", "blobs"})
) -> str:
    """Every row of every table in Intake's schemas, as PostgreSQL prints it (bytea as hex).

    `schemas`: those that must be there (the services that ran have migrated them).
    """
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"""
        )
        assert {row["table_schema"] for row in tables} >= schemas
        parts = []
        for row in tables:
            rows = await conn.fetch(f'SELECT t::text AS line FROM "{row["table_schema"]}"."{row["table_name"]}" t')
            parts.extend(r["line"] for r in rows)
        return "\n".join(parts)
    finally:
        await conn.close()
