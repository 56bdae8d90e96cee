"""Deleting email log rows older than the retention period (INTAKE_EMAIL_LOG_RETENTION_DAYS), periodically.

Runs as one task in config-api from start to stop: a cleanup right after start, then every
`interval_seconds`. Deletes in batches so no long transaction or big lock holds up the log's writers.
A failed run (database restarting) is logged and tried again at the next interval; it never stops the service.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from intake.config_api.email_log import delete_expired

log = structlog.get_logger(__name__)

BATCH_SIZE = 5000


async def clean_up_once(pool: asyncpg.Pool, retention_days: int, batch_size: int = BATCH_SIZE) -> int:
    """Delete every row logged more than `retention_days` days ago; return how many."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    deleted = await delete_expired(pool, cutoff, batch_size)
    if deleted:
        log.info("email log rows past retention deleted", deleted=deleted, retention_days=retention_days)
    return deleted


async def run_retention(pool: asyncpg.Pool, retention_days: int, interval_seconds: float) -> None:
    """Clean up now and then every `interval_seconds`, until cancelled."""
    while True:
        try:
            await clean_up_once(pool, retention_days)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
            log.warning("email log cleanup failed, trying again later", error=f"{type(error).__name__}: {error}")
        await asyncio.sleep(interval_seconds)
