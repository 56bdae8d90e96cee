"""Deleting the ingestor's dedupe keys (`tracker.outcomes`) older than their retention, in batches.

An outcome row recognises a redelivered or republished `message.fetched` by (inbox, UIDVALIDITY,
UID) and re-emits what was decided. It is kept INTAKE_INGESTOR_OUTCOME_RETENTION_DAYS, at least as
long as the fetcher keeps its own record of the message. A re-fetch under a new UIDVALIDITY does not
need it: that copy is a `duplicate` by its Message-ID on the issue, which is kept with the issue.
"""

from __future__ import annotations

from datetime import timedelta

from intake.shared.cleanup_metrics import CleanupReport
from intake.shared.database import Executor

BATCH_SIZE = 5000
# What a run deletes rows from, as `intake_cleanup_deleted_rows_total{table}` names it.
PRUNED_TABLES = ("tracker.outcomes",)

PRUNE_OUTCOMES = """
DELETE FROM tracker.outcomes WHERE (inbox_id, uidvalidity, uid) IN (
    SELECT inbox_id, uidvalidity, uid FROM tracker.outcomes
    WHERE processed_at < now() - $1::interval
    ORDER BY processed_at LIMIT $2
    FOR UPDATE SKIP LOCKED)
"""


async def prune_outcomes(conn: Executor, retention: timedelta, batch_size: int = BATCH_SIZE) -> CleanupReport:
    """Delete the outcomes decided more than `retention` ago (the database's clock); rows a
    transaction holds (a replay replacing one) wait for the next run."""
    deleted = 0
    while True:
        status = await conn.execute(PRUNE_OUTCOMES, retention, batch_size)
        count = int(status.split()[-1])
        deleted += count
        if count < batch_size:
            return CleanupReport(rows={"tracker.outcomes": deleted})
