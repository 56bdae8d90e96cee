"""Recording `message.fetched` and `message.processed` in `config.email_log`, one event or a batch.

Both recorders are idempotent upserts keyed by (inbox_id, uidvalidity, uid) and work in either arrival
order: a fetch never overwrites an outcome, and an older outcome never overwrites a newer one. A batch is
one statement over arrays per round of distinct rows, and ends where its events one by one end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from intake.shared.contracts import MessageFetched, MessageProcessed, MessageRef
from intake.shared.key_rounds import in_rounds

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
-- Whether the arriving outcome replaces the row's: `email_log_merge.replaces`, stated and explained
-- there; a test runs one table of cases through both.
WHERE log.processed_at IS NULL
   OR log.outcome = 'pending' AND (
        log.processed_at < EXCLUDED.processed_at
     OR log.reprocessed_from = 'failed' AND EXCLUDED.outcome <> 'failed')
   OR log.outcome <> 'pending' AND (
        (log.outcome = 'failed') <> (EXCLUDED.outcome = 'failed') AND EXCLUDED.outcome <> 'failed'
     OR (log.outcome = 'failed') = (EXCLUDED.outcome = 'failed') AND log.processed_at <= EXCLUDED.processed_at)
"""


# A column, its PostgreSQL type, and the event's attribute it takes ("" for the correlation id, which the
# delivery's headers carry, not the event).
_Field = tuple[str, str, str]


@dataclass(frozen=True)
class _Upsert:
    """One recorder's upsert, for one event (`one`: $1.. in field order) and for a batch (`batch`: $1.. the
    same fields as arrays, one element per event, the events' keys distinct), and the values of one event
    for them (`arguments`). All three come from one field list and one ON CONFLICT clause, so they
    cannot drift apart."""

    one: str
    batch: str
    attributes: tuple[str, ...]

    def arguments(self, event: MessageRef, correlation: str | None = None) -> tuple[object, ...]:
        return tuple(getattr(event, name) if name else correlation for name in self.attributes)


def _upsert(fields: Sequence[_Field], logged_at: str, on_conflict: str) -> _Upsert:
    """The upserts inserting `fields` and `logged_at` from the field named so."""
    names = [name for name, _, _ in fields]
    insert = f"INSERT INTO config.email_log AS log ({', '.join(names)}, logged_at)"
    parameters = [f"${number}" for number in range(1, len(fields) + 1)]
    arrays = ", ".join(f"{parameter}::{kind}[]" for parameter, (_, kind, _) in zip(parameters, fields, strict=True))
    # In the arrays' order, which is the rows' key order (`_in_key_order`): every writer locks rows in one order.
    from_arrays = f"FROM unnest({arrays}) WITH ORDINALITY AS event({', '.join(names)}, position) ORDER BY position"
    return _Upsert(
        one=f"{insert}\nVALUES ({', '.join(parameters)}, {parameters[names.index(logged_at)]}){on_conflict}",
        batch=f"{insert}\nSELECT {', '.join(names)}, {logged_at}\n{from_arrays}{on_conflict}",
        attributes=tuple(attribute for _, _, attribute in fields),
    )


_RECORD_FETCHED = _upsert(
    [
        ("inbox_id", "bigint", "inbox_id"),
        ("uidvalidity", "bigint", "uidvalidity"),
        ("uid", "bigint", "uid"),
        ("raw_sha256", "text", "raw_sha256"),
        ("message_id", "text", "message_id"),
        ("sender", "text", "sender"),
        ("subject", "text", "subject"),
        ("size", "bigint", "size"),
        ("fetched_at", "timestamptz", "fetched_at"),
        ("fetch_rejected", "text", "rejected"),
        ("correlation_id", "text", ""),
    ],
    "fetched_at",
    _ON_FETCHED_CONFLICT,
)

_RECORD_PROCESSED = _upsert(
    [
        ("inbox_id", "bigint", "inbox_id"),
        ("uidvalidity", "bigint", "uidvalidity"),
        ("uid", "bigint", "uid"),
        ("raw_sha256", "text", "raw_sha256"),
        ("message_id", "text", "message_id"),
        ("outcome", "text", "outcome"),  # an `Outcome`, a str: sent as its value
        ("reason", "text", "reason"),
        ("issue_number", "bigint", "issue_number"),
        ("attempts", "integer", "attempts"),
        ("processed_at", "timestamptz", "processed_at"),
        ("correlation_id", "text", ""),
    ],
    "processed_at",
    _ON_PROCESSED_CONFLICT,
)


async def record_fetched(
    conn: asyncpg.Connection | asyncpg.Pool, event: MessageFetched, correlation: str | None = None
) -> None:
    """Add the row of a fetched message as `pending`, or complete the fetch fields of an existing row;
    `correlation` is the id its `x-correlation-id` header carried."""
    await conn.execute(_RECORD_FETCHED.one, *_RECORD_FETCHED.arguments(event, correlation))


async def record_processed(
    conn: asyncpg.Connection | asyncpg.Pool, event: MessageProcessed, correlation: str | None = None
) -> None:
    """Set the outcome of a message, adding its row when the fetch event has not arrived yet."""
    await conn.execute(_RECORD_PROCESSED.one, *_RECORD_PROCESSED.arguments(event, correlation))


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
) -> None:
    """`upsert.one` for each event in one transaction, as one `upsert.batch` per round of distinct rows: a
    statement may change a row only once, so a batch naming a row twice (a redelivery, a replay) takes
    more rounds, applied in arrival order (`in_rounds`), which ends where one event at a time ends."""
    async with pool.acquire() as conn, conn.transaction():
        for round_ in in_rounds(_in_key_order(events), key=lambda item: _key(item[0])):
            rows = [upsert.arguments(event, correlation) for event, correlation in round_]
            await conn.execute(upsert.batch, *(list(field) for field in zip(*rows, strict=True)))


async def record_fetched_batch(
    pool: asyncpg.Pool, events: Sequence[MessageFetched], correlations: Sequence[str | None] | None = None
) -> None:
    """`record_fetched` for each event (with its correlation id, if given), in one transaction (all or none)."""
    await _record_batch(pool, _RECORD_FETCHED, _with_correlations(events, correlations))


async def record_processed_batch(
    pool: asyncpg.Pool, events: Sequence[MessageProcessed], correlations: Sequence[str | None] | None = None
) -> None:
    """`record_processed` for each event (with its correlation id, if given), in one transaction (all or none)."""
    await _record_batch(pool, _RECORD_PROCESSED, _with_correlations(events, correlations))
