"""Periodic storage cleanup runs: one report value per run, logged, handed to the service's counters.

The service decides what a run deletes (its own schema's expired rows; the ingestor also collects
blobs) and passes it in as `clean_once`; this module only repeats it every interval, times it, logs
what it deleted (rows per table, blobs, bytes) and survives a failed run (a database restarting):
that is logged and the next interval tries again. It never stops the service. What a run deleted is a
`CleanupReport`; `cleanup_metrics.CleanupMetrics` counts it on the service's registry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from intake.shared.cleanup_metrics import CleanupReport

log = structlog.get_logger(__name__)


# Called after every run: ("ok", report) or ("failed", None). The metrics hook counts with it.
RunObserver = Callable[[str, CleanupReport | None], None]


async def clean_up_logged(
    name: str, clean_once: Callable[[], Awaitable[CleanupReport]], observe: RunObserver | None = None
) -> CleanupReport | None:
    """One run: `clean_once`, logged with what it deleted and how long it took; None if it failed."""
    started = time.monotonic()
    try:
        report = await clean_once()
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
        log.warning("cleanup failed, trying again later", cleanup=name, error=f"{type(error).__name__}: {error}")
        if observe is not None:
            observe("failed", None)
        return None
    log.info(
        "cleanup run",
        cleanup=name,
        deleted_rows=dict(report.rows),
        deleted_blobs=report.blobs,
        deleted_bytes=report.bytes,
        seconds=round(time.monotonic() - started, 3),
    )
    if observe is not None:
        observe("ok", report)
    return report


async def run_cleanups(
    name: str,
    clean_once: Callable[[], Awaitable[CleanupReport]],
    interval_seconds: float,
    observe: RunObserver | None = None,
) -> None:
    """Clean up now and then every `interval_seconds`, until cancelled."""
    while True:
        await clean_up_logged(name, clean_once, observe)
        await asyncio.sleep(interval_seconds)
