"""Deleting email log rows older than the retention period (INTAKE_EMAIL_LOG_RETENTION_DAYS), periodically.

Runs as one task in config-api from start to stop (`intake.shared.cleanup.run_cleanups`): a cleanup
right after start, then every `interval_seconds`, each run logged and counted like the other
services' cleanups. Deletes in batches so no long transaction or big lock holds up the log's writers.
A failed run (database restarting) is logged and tried again at the next interval; it never stops the service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from intake.config_api.email_log import delete_expired
from intake.shared.cleanup import RunObserver, run_cleanups
from intake.shared.cleanup_metrics import CleanupReport

BATCH_SIZE = 5000


async def clean_up_once(pool: asyncpg.Pool, retention_days: int, batch_size: int = BATCH_SIZE) -> int:
    """Delete every row logged more than `retention_days` days ago; return how many."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    return await delete_expired(pool, cutoff, batch_size)


async def run_retention(
    pool: asyncpg.Pool, retention_days: int, interval_seconds: float, observe: RunObserver | None = None
) -> None:
    """Clean up now and then every `interval_seconds`, until cancelled; each run logged and `observe`d."""

    async def clean_once() -> CleanupReport:
        return CleanupReport(rows={"config.email_log": await clean_up_once(pool, retention_days)})

    await run_cleanups("email log", clean_once, interval_seconds, observe)
