"""The one rule that deletes blobs (`blobs.blobs`): which may go, and the SQL that applies it in batches.

A blob may be deleted when nothing refers to it and no writer is about to: no reference view names
it, it was last put more than the grace period ago, and no transaction holds its row. `verdict` is
the rule as a pure function; `collect_blobs` applies the same rule in SQL. Nothing else deletes blobs.

References live in the schemas of three services; each publishes them as a view (`REFERENCE_VIEWS`),
so the collector reads no other service's table. A missing view stops the run with nothing deleted.

Safe against a message stored at the same moment: every writer puts each blob it refers to in the
transaction that writes the reference (`blobs.ON_CONFLICT_TOUCH`), which moves `touched_at` and
holds the blob's row lock until it commits. A batch runs in its own short REPEATABLE READ
transaction and locks its victims `FOR UPDATE SKIP LOCKED`: a blob a writer holds is skipped; a
blob put (and committed) after the batch's snapshot fails the lock with a serialization error and
the batch is tried again; a blob whose put waits for the batch's lock is inserted again by that put
once the batch commits (INSERT … ON CONFLICT never loses the row). The grace period covers a writer
that puts in one transaction and refers to it in a later one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog

from intake.shared.database import Session

log = structlog.get_logger(__name__)

# Every place a blob is referred to, by the view its owner publishes (name → what it holds).
REFERENCE_VIEWS: Mapping[str, str] = {
    "config.blob_references": "email log rows' raw messages (config-api)",
    "fetcher.blob_references": "fetched messages' raw bytes, until pruned (fetcher)",
    "tracker.blob_references": "issue messages' raw messages and attachments (ingestor)",
}

# Keys looked at per batch (one short transaction each).
BATCH_SIZE = 1000
# A batch that keeps meeting concurrent puts is given up for this run after this many tries.
MAX_TRIES = 5


@dataclass(frozen=True)
class BlobFacts:
    """What the rule needs to know about one blob."""

    touched_at: datetime
    referenced_by: frozenset[str]  # the REFERENCE_VIEWS that name it
    locked: bool  # a transaction holds its row (a put in progress)


@dataclass(frozen=True)
class Verdict:
    delete: bool
    reason: str


def verdict(facts: BlobFacts, now: datetime, grace: timedelta) -> Verdict:
    """Whether the blob may be deleted, and why (or why not)."""
    if facts.locked:
        return Verdict(False, "a transaction holds it (being stored again)")
    if facts.referenced_by:
        return Verdict(False, "referred to by " + ", ".join(sorted(facts.referenced_by)))
    if facts.touched_at >= now - grace:
        return Verdict(False, f"put less than {grace} ago")
    return Verdict(True, f"nothing refers to it and it was last put more than {grace} ago")


def _unreferenced() -> str:
    return "\n".join(
        f"AND NOT EXISTS (SELECT FROM {view} r WHERE r.sha256 = b.sha256)" for view in sorted(REFERENCE_VIEWS)
    )


# One batch: the next `$2` keys after `$1` in key order, of which those the rule allows are deleted.
# The sweep walks the primary key, so one run looks at every blob once and no batch rescans kept ones.
COLLECT_BATCH = f"""
WITH scanned AS MATERIALIZED (
    SELECT sha256 FROM blobs.blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT $2
), doomed AS (
    SELECT b.sha256 FROM blobs.blobs b
    WHERE b.sha256 IN (SELECT sha256 FROM scanned)
      AND b.touched_at < now() - $3::interval
      {_unreferenced()}
    FOR UPDATE OF b SKIP LOCKED
), deleted AS (
    DELETE FROM blobs.blobs d USING doomed WHERE d.sha256 = doomed.sha256 RETURNING d.size
)
SELECT (SELECT max(sha256) FROM scanned) AS scanned_to, (SELECT count(*) FROM scanned) AS scanned,
       (SELECT count(*) FROM deleted) AS blobs,
       (SELECT coalesce(sum(size), 0) FROM deleted)::bigint AS bytes
"""


@dataclass(frozen=True)
class Collected:
    """What one run of the collector did."""

    blobs: int = 0
    bytes: int = 0
    scanned: int = 0
    retried: int = 0  # batches tried again after meeting a concurrent put
    complete: bool = True  # False: a batch kept meeting concurrent puts; the rest waits for the next run


async def _batch(conn: Session, after: str, batch_size: int, grace: timedelta) -> tuple[asyncpg.Record | None, int]:
    """One batch in its own transaction; (its row or None after MAX_TRIES serialization failures, retries)."""
    for attempt in range(MAX_TRIES):
        try:
            async with conn.transaction(isolation="repeatable_read"):
                return await conn.fetchrow(COLLECT_BATCH, after, batch_size, grace), attempt
        except asyncpg.SerializationError:
            # A put committed after this batch's snapshot touched one of its blobs: look again.
            continue
    return None, MAX_TRIES


async def collect_blobs(conn: Session, grace: timedelta, batch_size: int = BATCH_SIZE) -> Collected:
    """Delete every blob the rule allows, `batch_size` keys per short transaction; return the totals.

    Raises `asyncpg.UndefinedTableError` (nothing deleted) while a reference view is missing.
    """
    after = ""
    blobs = size = scanned = retried = 0
    while True:
        row, retries = await _batch(conn, after, batch_size, grace)
        retried += retries
        if row is None:
            log.info("blob collection stopped at a busy batch; the rest waits for the next run", after=after)
            return Collected(blobs, size, scanned, retried, complete=False)
        if row["scanned_to"] is None:
            return Collected(blobs, size, scanned, retried)
        blobs += row["blobs"]
        size += row["bytes"]
        scanned += row["scanned"]
        after = row["scanned_to"]
