"""Reprocessing the `failed` rows of an email log filter at once: counting them, and replaying a bounded batch.

Each row goes through `email_log.reprocess`, the one path that makes a row pending and publishes its
message, so the bulk action refuses, locks and rolls back exactly like the single one. One request
replays at most MAX_BULK_REPROCESS rows, oldest first; the answer says how many were queued, how many
were refused (and why) and how many failed rows the filter still has.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from intake.config_api import email_log
from intake.config_api.email_log_filters import EmailLogFilter, filter_clauses
from intake.config_api.email_log_schemas import LogOutcome
from intake.config_api.errors import BusUnavailable, Conflict, NotFound
from intake.shared.event_publisher import EventPublisher

log = structlog.get_logger(__name__)

MAX_BULK_REPROCESS = 500


def failed_filter(filters: EmailLogFilter) -> EmailLogFilter | None:
    """The filter narrowed to `failed` rows, or None when it asks for another outcome (then there are none).

    >>> failed_filter(EmailLogFilter(inbox_id=3)).outcome
    <LogOutcome.FAILED: 'failed'>
    >>> failed_filter(EmailLogFilter(outcome=LogOutcome.REJECTED)) is None
    True
    """
    if filters.outcome not in (None, LogOutcome.FAILED):
        return None
    return dataclasses.replace(filters, outcome=LogOutcome.FAILED)


def _where(filters: EmailLogFilter) -> tuple[str, list[Any]]:
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    return " AND ".join(filter_clauses(filters, arg)), args


async def count_failed(pool: asyncpg.Pool, filters: EmailLogFilter) -> int:
    """How many rows of `filters` are `failed` now."""
    narrowed = failed_filter(filters)
    if narrowed is None:
        return 0
    where, args = _where(narrowed)
    count: int = await pool.fetchval(f"SELECT count(*) FROM config.email_log WHERE {where}", *args)
    return count


@dataclass(frozen=True)
class BulkReprocessResult:
    """What one bulk reprocess did: rows queued, rows refused by reason, and failed rows the filter still has."""

    queued: int
    refused: dict[str, int]
    remaining: int
    bus_unavailable: bool = False

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())


async def bulk_reprocess(
    pool: asyncpg.Pool,
    publisher: EventPublisher,
    filters: EmailLogFilter,
    limit: int = MAX_BULK_REPROCESS,
) -> BulkReprocessResult:
    """Reprocess up to `limit` failed rows of `filters`, oldest first, one by one through `email_log.reprocess`.

    A row that changed meanwhile (no longer failed, raw bytes gone) is refused and counted by reason. When
    RabbitMQ does not take a message the run stops there (that row is unchanged) and says so.
    """
    narrowed = failed_filter(filters)
    if narrowed is None:
        return BulkReprocessResult(queued=0, refused={}, remaining=0)
    where, args = _where(narrowed)
    args.append(limit)
    ids = [
        row["id"]
        for row in await pool.fetch(
            f"SELECT id FROM config.email_log WHERE {where} ORDER BY logged_at, id LIMIT ${len(args)}", *args
        )
    ]
    queued = 0
    refused: Counter[str] = Counter()
    bus_unavailable = False
    for entry_id in ids:
        try:
            await email_log.reprocess(pool, publisher, entry_id)
        except (Conflict, NotFound) as refusal:
            refused[str(refusal)] += 1
        except BusUnavailable:
            bus_unavailable = True
            break
        else:
            queued += 1
    remaining = await count_failed(pool, filters)
    log.info(
        "bulk reprocess",
        selected=len(ids),
        queued=queued,
        refused=sum(refused.values()),
        remaining=remaining,
        bus_unavailable=bus_unavailable,
    )
    return BulkReprocessResult(queued, dict(refused), remaining, bus_unavailable)
