"""The email log table's rows as HTML: one template (`email_log/rows.html`) for the page and for the rows the
live mode sends, so both look the same; with the inboxes' addresses looked up for the rows shown.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from intake.config_api.console.rendering import templates
from intake.config_api.email_log_changes import Change
from intake.config_api.email_log_schemas import EmailLogEntry


async def inbox_addresses(pool: asyncpg.Pool, inbox_ids: Iterable[int]) -> dict[int, str]:
    """Inbox id → its address, for the ids given (a deleted inbox is absent: the row says so)."""
    ids = sorted(set(inbox_ids))
    if not ids:
        return {}
    rows = await pool.fetch("SELECT id, email FROM config.inboxes WHERE id = ANY($1)", ids)
    return {row["id"]: row["email"] for row in rows}


async def render_rows(pool: asyncpg.Pool, changes: list[Change]) -> list[str]:
    """The `<tr>` of each changed row (the live mode inserts or replaces them, and marks the new ones)."""
    entries: list[EmailLogEntry] = [change.entry for change in changes]
    inboxes = await inbox_addresses(pool, (entry.inbox_id for entry in entries))
    macro = templates.env.get_template("email_log/rows.html").module.log_row  # type: ignore[attr-defined]
    return [str(macro(entry, inboxes)) for entry in entries]
