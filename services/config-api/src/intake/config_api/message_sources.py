"""Which email log row each message of an issue came from, joined on the mailbox key (inbox, UIDVALIDITY, UID).

Reads the ingestor's `tracker.message_view` (its key columns were added after the first version) and our
own `config.email_log`. A view without the key columns gives no links, never an error of the page.
"""

from __future__ import annotations

import asyncpg

_MISSING_RELATION = (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError, asyncpg.UndefinedColumnError)


async def email_log_rows(pool: asyncpg.Pool, issue_number: int) -> dict[int, int]:
    """Message id (the tracker's row id) → email log row id, for the messages of the issue that have one."""
    try:
        rows = await pool.fetch(
            """SELECT m.id AS message, l.id AS log_row
               FROM tracker.message_view m
               JOIN config.email_log l USING (inbox_id, uidvalidity, uid)
               WHERE m.issue_number = $1""",
            issue_number,
        )
    except _MISSING_RELATION:
        return {}
    return {row["message"]: row["log_row"] for row in rows}
