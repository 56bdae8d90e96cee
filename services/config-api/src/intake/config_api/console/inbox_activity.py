"""What the inbox list shows of each inbox's mail today: email log rows by outcome since the start of the day (UTC)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from intake.shared.database import Executor


async def counts_since(conn: Executor, inbox_ids: Sequence[int], since: datetime) -> dict[int, dict[str, int]]:
    """{inbox id: {outcome: rows logged at or after `since`}}; an inbox with none is absent."""
    if not inbox_ids:
        return {}
    rows = await conn.fetch(
        """SELECT inbox_id, outcome, count(*) AS n FROM config.email_log
           WHERE inbox_id = ANY($1::bigint[]) AND logged_at >= $2
           GROUP BY inbox_id, outcome""",
        list(inbox_ids),
        since,
    )
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["inbox_id"], {})[row["outcome"]] = row["n"]
    return counts
