"""What the issue page adds to each message from the ingestor's `tracker.message_view`: the email log row it
came from (joined on the mailbox key: inbox, UIDVALIDITY, UID) and its HTML body.

Those columns were added to the view after its first version: a view without them gives no links and no
HTML, never an error of the page.
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


async def html_bodies(pool: asyncpg.Pool, issue_number: int, max_chars: int) -> dict[int, str]:
    """Message id → its HTML body (at most `max_chars` + 1 characters, so a longer one shows as too long)."""
    try:
        rows = await pool.fetch(
            """SELECT id, left(body_html, $2) AS body_html FROM tracker.message_view
               WHERE issue_number = $1 AND body_html IS NOT NULL""",
            issue_number,
            max_chars + 1,
        )
    except _MISSING_RELATION:
        return {}
    return {row["id"]: row["body_html"] for row in rows}
