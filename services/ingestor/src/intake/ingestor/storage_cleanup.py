"""The ingestor's periodic cleanup: its expired dedupe keys, then every blob nothing refers to any longer.

The ingestor runs the blob collector (`intake.shared.blob_collection`) for the whole deployment: it
owns the references that live longest (issue messages and attachments), writes most blobs, and is
the one service every deployment scales for load rather than for mailboxes. Several replicas may
run it at once; their batches skip each other's locked rows. It reads the other services' references
only through their `blob_references` views.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import structlog

from intake.ingestor.outcome_retention import prune_outcomes
from intake.shared.blob_collection import collect_blobs
from intake.shared.cleanup_metrics import CleanupReport
from intake.shared.settings import RetentionSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StorageCleanup:
    pool: asyncpg.Pool
    outcome_retention: timedelta | None  # None keeps the outcomes for ever
    blob_grace: timedelta

    @classmethod
    def from_settings(cls, pool: asyncpg.Pool, settings: RetentionSettings) -> StorageCleanup:
        days = settings.ingestor_outcome_retention_days
        return cls(pool, timedelta(days=days) if days else None, timedelta(seconds=settings.blob_grace_seconds))

    async def __call__(self) -> CleanupReport:
        report = CleanupReport(rows={"tracker.outcomes": 0})
        if self.outcome_retention is not None:
            report = await prune_outcomes(self.pool, self.outcome_retention)
        async with self.pool.acquire() as conn:
            try:
                collected = await collect_blobs(conn, self.blob_grace)
            except asyncpg.UndefinedTableError as error:
                # A service that refers to blobs has not created its view yet (a first start, the
                # services starting in any order): nothing can be known unreferenced, so nothing goes.
                log.info("blob collection waits for every reference view", missing=str(error))
                return report
        return report + CleanupReport(blobs=collected.blobs, bytes=collected.bytes)
