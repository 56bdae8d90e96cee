"""The health of each inbox in `config.inbox_status`, as the owning fetcher reports it (`inbox.status`).

The newest `reported_at` wins, so a redelivered or late report changes nothing. A report for an inbox
that no longer exists is dropped: the row would have nothing to describe. Writers other than the
consumer (an OAuth2 refresh that fails puts the inbox into `needs_reauth`) use `record_status` too.
"""

from __future__ import annotations

import asyncpg

from intake.shared.contracts import InboxStatus
from intake.shared.database import Executor


async def record_status(conn: Executor, report: InboxStatus) -> bool:
    """Store `report` unless a newer one is stored; False when it changed nothing (older, or inbox gone)."""
    try:
        stored = await conn.fetchval(
            """INSERT INTO config.inbox_status AS s
                   (inbox_id, state, last_success_at, last_error, consecutive_failures, push, reported_at)
               SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM config.inboxes WHERE id = $1)
               ON CONFLICT (inbox_id) DO UPDATE SET
                   state = EXCLUDED.state, last_success_at = EXCLUDED.last_success_at,
                   last_error = EXCLUDED.last_error, consecutive_failures = EXCLUDED.consecutive_failures,
                   push = EXCLUDED.push, reported_at = EXCLUDED.reported_at, updated_at = now()
               WHERE s.reported_at < EXCLUDED.reported_at
               RETURNING true""",
            report.inbox_id,
            report.state.value,
            report.last_success_at,
            report.last_error,
            report.consecutive_failures,
            report.push,
            report.reported_at,
        )
    except asyncpg.ForeignKeyViolationError:
        # The inbox was deleted between the EXISTS check and the insert.
        return False
    return bool(stored)
