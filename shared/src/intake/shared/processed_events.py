"""Reading a `message.processed` body: one `MessageProcessed`, or a `ProcessedBatch` of several.

Both shapes travel on the one routing key, so every consumer of it decodes with `correlated` (events
with their correlation ids) or `outcomes` (the events alone). A body that is neither raises
`pydantic.ValidationError`, which the consumers treat as "can never succeed" (dead-lettered at once).
"""

from __future__ import annotations

from pydantic import TypeAdapter

from intake.shared.contracts import MessageProcessed, ProcessedBatch

# A batch has `messages` and a single event has none, and both forbid extra fields: at most one matches.
_EITHER: TypeAdapter[MessageProcessed | ProcessedBatch] = TypeAdapter(MessageProcessed | ProcessedBatch)


def correlated(body: bytes, delivery_correlation: str | None) -> list[tuple[MessageProcessed, str | None]]:
    """Each outcome in `body` with its correlation id: a batch's from its entries, a single event's the
    delivery's own (its `x-correlation-id` header, `bus.correlation_id`).

    >>> single = MessageProcessed(inbox_id=1, uidvalidity=1, uid=7, raw_sha256="a" * 64, outcome="duplicate",
    ...     reason="seen before", attempts=1, processed_at="2026-12-06T10:00:00Z")
    >>> [(e.uid, c) for e, c in correlated(single.model_dump_json().encode(), "c7")]
    [(7, 'c7')]
    >>> batch = ProcessedBatch(messages=[{"processed": single, "correlation_id": "c7"},
    ...     {"processed": single.model_copy(update={"uid": 8})}])
    >>> [(e.uid, c) for e, c in correlated(batch.model_dump_json().encode(), None)]
    [(7, 'c7'), (8, None)]
    """
    decoded = _EITHER.validate_json(body)
    if isinstance(decoded, ProcessedBatch):
        return [(entry.processed, entry.correlation_id) for entry in decoded.messages]
    return [(decoded, delivery_correlation)]


def outcomes(body: bytes) -> list[MessageProcessed]:
    """The outcomes in `body`, without correlation ids."""
    return [event for event, _ in correlated(body, None)]
