"""Recording `message.fetched` and `message.processed` in `config.email_log`, one event or a batch.

Both recorders are idempotent upserts keyed by (inbox_id, uidvalidity, uid) and work in either arrival
order: a fetch never overwrites an outcome, and an older outcome never overwrites a newer one. A batch is
one statement over arrays per round of distinct rows, and ends where its events one by one end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from intake.shared.contracts import MessageFetched, MessageProcessed, MessageRef
from intake.shared.rounds import in_rounds

E = TypeVar("E", bound=MessageRef)

_ON_FETCHED_CONFLICT = """
ON CONFLICT (inbox_id, uidvalidity, uid) DO UPDATE SET
    raw_sha256 = EXCLUDED.raw_sha256,
    -- The first fetch's id stays (a redelivery or a republish carries the same one).
    correlation_id = COALESCE(log.correlation_id, EXCLUDED.correlation_id),
    message_id = COALESCE(EXCLUDED.message_id, log.message_id),
    sender = EXCLUDED.sender,
    subject = EXCLUDED.subject,
    size = EXCLUDED.size,
    fetch_rejected = COALESCE(EXCLUDED.fetch_rejected, log.fetch_rejected),
    -- A redelivery carries the same time; a re-fetch of the same UID keeps the first.
    fetched_at = LEAST(log.fetched_at, EXCLUDED.fetched_at),
    logged_at = LEAST(log.fetched_at, EXCLUDED.fetched_at),
    updated_at = now()
"""

_ON_PROCESSED_CONFLICT = """
ON CONFLICT (inbox_id, uidvalidity, uid) DO UPDATE SET
    message_id = COALESCE(log.message_id, EXCLUDED.message_id),
    correlation_id = COALESCE(log.correlation_id, EXCLUDED.correlation_id),
    outcome = EXCLUDED.outcome,
    reason = EXCLUDED.reason,
    issue_number = EXCLUDED.issue_number,
    attempts = EXCLUDED.attempts,
    processed_at = EXCLUDED.processed_at,
    updated_at = now()
-- `failed` is the one outcome the ingestor never commits (it is published when the last delivery
-- fails, possibly after a commit whose own publish was lost). So a committed outcome always replaces
-- `failed`, and `failed` never replaces a committed one. Otherwise the later outcome wins: a replayed
-- message gets a later outcome, and a redelivered old one must not undo it.
-- A row made `pending` again by reprocess keeps the replaced outcome's processed_at: only a later
-- outcome ends it (a redelivery of the replaced one does not), or any committed outcome when the
-- replaced one was `failed`.
WHERE log.processed_at IS NULL
   OR log.outcome = 'pending' AND (
        log.processed_at < EXCLUDED.processed_at
     OR log.reprocessed_from = 'failed' AND EXCLUDED.outcome <> 'failed')
   OR log.outcome <> 'pending' AND (
        (log.outcome = 'failed') <> (EXCLUDED.outcome = 'failed') AND EXCLUDED.outcome <> 'failed'
     OR (log.outcome = 'failed') = (EXCLUDED.outcome = 'failed') AND log.processed_at <= EXCLUDED.processed_at)
"""


@dataclass(frozen=True)
class _Upsert:
    """One recorder's upsert, for one event (`one`: $1.. in field order) and for a batch (`batch`: $1.. the
    same fields as arrays, one element per event, the events' keys distinct). Both are built from one
    field list and one ON CONFLICT clause, so they cannot drift apart."""

    one: str
    batch: str


def _upsert(fields: Sequence[tuple[str, str]], logged_at: str, on_conflict: str) -> _Upsert:
    """The upserts inserting `fields` (name, PostgreSQL type) and `logged_at` from the field named so."""
    names = [name for name, _ in fields]
    insert = f"INSERT INTO config.email_log AS log ({', '.join(names)}, logged_at)"
    parameters = [f"${number}" for number in range(1, len(fields) + 1)]
    arrays = ", ".join(f"{parameter}::{kind}[]" for parameter, (_, kind) in zip(parameters, fields, strict=True))
    # In the arrays' order, which is the rows' key order (`_in_key_order`): every writer locks rows in one order.
    from_arrays = f"FROM unnest({arrays}) WITH ORDINALITY AS event({', '.join(names)}, position) ORDER BY position"
    return _Upsert(
        one=f"{insert}\nVALUES ({', '.join(parameters)}, {parameters[names.index(logged_at)]}){on_conflict}",
        batch=f"{insert}\nSELECT {', '.join(names)}, {logged_at}\n{from_arrays}{on_conflict}",
    )


_RECORD_FETCHED = _upsert(
    [
        ("inbox_id", "bigint"),
        ("uidvalidity", "bigint"),
        ("uid", "bigint"),
        ("raw_sha256", "text"),
        ("message_id", "text"),
        ("sender", "text"),
        ("subject", "text"),
        ("size", "bigint"),
        ("fetched_at", "timestamptz"),
        ("fetch_rejected", "text"),
        ("correlation_id", "text"),
    ],
    "fetched_at",
    _ON_FETCHED_CONFLICT,
)

_RECORD_PROCESSED = _upsert(
    [
        ("inbox_id", "bigint"),
        ("uidvalidity", "bigint"),
        ("uid", "bigint"),
        ("raw_sha256", "text"),
        ("message_id", "text"),
        ("outcome", "text"),
        ("reason", "text"),
        ("issue_number", "bigint"),
        ("attempts", "integer"),
        ("processed_at", "timestamptz"),
        ("correlation_id", "text"),
    ],
    "processed_at",
    _ON_PROCESSED_CONFLICT,
)


def _fetched_arguments(event: MessageFetched, correlation: str | None = None) -> tuple[object, ...]:
    """The fields of `_RECORD_FETCHED`, in its order."""
    return (
        event.inbox_id,
        event.uidvalidity,
        event.uid,
        event.raw_sha256,
        event.message_id,
        event.sender,
        event.subject,
        event.size,
        event.fetched_at,
        event.rejected,
        correlation,
    )


def _processed_arguments(event: MessageProcessed, correlation: str | None = None) -> tuple[object, ...]:
    """The fields of `_RECORD_PROCESSED`, in its order."""
    return (
        event.inbox_id,
        event.uidvalidity,
        event.uid,
        event.raw_sha256,
        event.message_id,
        event.outcome.value,
        event.reason,
        event.issue_number,
        event.attempts,
        event.processed_at,
        correlation,
    )


async def record_fetched(
    conn: asyncpg.Connection | asyncpg.Pool, event: MessageFetched, correlation: str | None = None
) -> None:
    """Add the row of a fetched message as `pending`, or complete the fetch fields of an existing row;
    `correlation` is the id its `x-correlation-id` header carried."""
    await conn.execute(_RECORD_FETCHED.one, *_fetched_arguments(event, correlation))


async def record_processed(
    conn: asyncpg.Connection | asyncpg.Pool, event: MessageProcessed, correlation: str | None = None
) -> None:
    """Set the outcome of a message, adding its row when the fetch event has not arrived yet."""
    await conn.execute(_RECORD_PROCESSED.one, *_processed_arguments(event, correlation))


def _in_key_order(events: Sequence[tuple[E, str | None]]) -> list[tuple[E, str | None]]:
    """Events (with their correlation ids) ordered by their row's key, events of one row kept in arrival
    order (the sort is stable): every batch then locks its rows in one order, so the fetch and the
    outcome batches, or two replicas, never wait for each other in a cycle."""
    return sorted(events, key=lambda item: _key(item[0]))


def _key(event: MessageRef) -> tuple[int, int, int]:
    return (event.inbox_id, event.uidvalidity, event.uid)


def _with_correlations(events: Sequence[E], correlations: Sequence[str | None] | None) -> list[tuple[E, str | None]]:
    return list(zip(events, correlations if correlations is not None else [None] * len(events), strict=True))


async def _record_batch(
    pool: asyncpg.Pool,
    upsert: _Upsert,
    events: Sequence[tuple[E, str | None]],
    arguments: Callable[[E, str | None], tuple[object, ...]],
) -> None:
    """`upsert.one` for each event in one transaction, as one `upsert.batch` per round of distinct rows: a
    statement may change a row only once, so a batch naming a row twice (a redelivery, a replay) takes
    more rounds, applied in arrival order (`in_rounds`), which ends where one event at a time ends."""
    async with pool.acquire() as conn, conn.transaction():
        for round_ in in_rounds(_in_key_order(events), key=lambda item: _key(item[0])):
            rows = [arguments(event, correlation) for event, correlation in round_]
            await conn.execute(upsert.batch, *(list(field) for field in zip(*rows, strict=True)))


async def record_fetched_batch(
    pool: asyncpg.Pool, events: Sequence[MessageFetched], correlations: Sequence[str | None] | None = None
) -> None:
    """`record_fetched` for each event (with its correlation id, if given), in one transaction (all or none)."""
    await _record_batch(pool, _RECORD_FETCHED, _with_correlations(events, correlations), _fetched_arguments)


async def record_processed_batch(
    pool: asyncpg.Pool, events: Sequence[MessageProcessed], correlations: Sequence[str | None] | None = None
) -> None:
    """`record_processed` for each event (with its correlation id, if given), in one transaction (all or none)."""
    await _record_batch(pool, _RECORD_PROCESSED, _with_correlations(events, correlations), _processed_arguments)
