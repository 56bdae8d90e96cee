"""Reading the fetcher's record of a message's mailbox action through its view `fetcher.message_action_view`.

Read-only, one row by the message's key. A missing view (the fetcher has not migrated, or runs against
another database) is reported as unreadable, never as an error of the page.
"""

from __future__ import annotations

import asyncpg

from intake.config_api.email_log_story import MailboxRecord
from intake.shared.database import Executor

_MISSING_RELATION = (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError, asyncpg.UndefinedColumnError)


async def mailbox_record(
    conn: Executor, inbox_id: int, uidvalidity: int, uid: int
) -> tuple[MailboxRecord | None, bool]:
    """The fetcher's record for the message (None when it has none) and whether the view could be read at all."""
    try:
        row = await conn.fetchrow(
            """SELECT action, action_state, action_attempts, action_error, action_done_at
               FROM fetcher.message_action_view WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = $3""",
            inbox_id,
            uidvalidity,
            uid,
        )
    except _MISSING_RELATION:
        return None, False
    if row is None:
        return None, True
    record = MailboxRecord(
        action=row["action"],
        state=row["action_state"],
        attempts=row["action_attempts"],
        error=row["action_error"],
        done_at=row["action_done_at"],
    )
    return record, True
