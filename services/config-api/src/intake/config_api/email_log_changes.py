"""Reading the email log rows that changed since a time, for the console's live view.

One indexed query per poll (`email_log_updated_idx`), narrowed by the page's filter; `live_changes`
decides which of them the view has not seen yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from intake.config_api import email_log
from intake.config_api.email_log_filters import ROW_COLUMNS, EmailLogFilter, filter_clauses
from intake.config_api.email_log_schemas import EmailLogEntry


@dataclass(frozen=True)
class Change:
    """A row as it is now, with its change time and its place in the list (`logged_at`, the sort key)."""

    entry: EmailLogEntry
    updated_at: datetime
    logged_at: datetime


async def changes_since(pool: asyncpg.Pool, filters: EmailLogFilter, since: datetime, limit: int) -> list[Change]:
    """Rows of `filters` changed at or after `since`, oldest change first, at most `limit`."""
    args: list[Any] = [since]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    clauses = ["updated_at >= $1", *filter_clauses(filters, arg)]
    rows = await pool.fetch(
        f"""SELECT {ROW_COLUMNS}, updated_at FROM config.email_log WHERE {" AND ".join(clauses)}
            ORDER BY updated_at, id LIMIT {arg(limit)}""",
        *args,
    )
    return [
        Change(
            entry=email_log.entry_from_row({k: v for k, v in row.items() if k != "updated_at"}),
            updated_at=row["updated_at"],
            logged_at=row["logged_at"],
        )
        for row in rows
    ]


async def database_now(pool: asyncpg.Pool) -> datetime:
    """The database's clock, which stamps `updated_at` (the web server's clock may differ)."""
    now: datetime = await pool.fetchval("SELECT now()")
    return now
