"""Reading a `message.fetched` or `message.processed` body: one event, or a batch of them.

The fetcher publishes the messages of one FETCH as a `FetchedBatch`, the ingestor the outcomes of one
transaction as a `ProcessedBatch`; a lone event is still published as itself. Both shapes travel on
the one routing key, so every consumer decodes with these functions: each event with its correlation
id (a batch's entries carry theirs, a lone event's is its delivery's `x-correlation-id` header,
`bus.correlation_id`). A body that is neither shape raises `pydantic.ValidationError`, which the
consumers treat as "can never succeed" (dead-lettered at once).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import TypeAdapter

from intake.shared.contracts import (
    Contract,
    FetchedBatch,
    FetchedEntry,
    MessageFetched,
    MessageProcessed,
    ProcessedBatch,
    ProcessedEntry,
)

# A batch has `messages` and a lone event has none, and both forbid extra fields: at most one matches.
_FETCHED: TypeAdapter[MessageFetched | FetchedBatch] = TypeAdapter(MessageFetched | FetchedBatch)
_PROCESSED: TypeAdapter[MessageProcessed | ProcessedBatch] = TypeAdapter(MessageProcessed | ProcessedBatch)


def fetched(body: bytes, delivery_correlation: str | None) -> list[tuple[MessageFetched, str | None]]:
    """Each fetched message in `body` with its correlation id, in the batch's order."""
    decoded = _FETCHED.validate_json(body)
    if isinstance(decoded, FetchedBatch):
        return [(entry.fetched, entry.correlation_id) for entry in decoded.messages]
    return [(decoded, delivery_correlation)]


def processed(body: bytes, delivery_correlation: str | None) -> list[tuple[MessageProcessed, str | None]]:
    """Each outcome in `body` with its correlation id, in the batch's order.

    >>> single = MessageProcessed(inbox_id=1, uidvalidity=1, uid=7, raw_sha256="a" * 64, outcome="duplicate",
    ...     reason="seen before", attempts=1, processed_at="2026-12-06T10:00:00Z")
    >>> [(e.uid, c) for e, c in processed(single.model_dump_json().encode(), "c7")]
    [(7, 'c7')]
    >>> batch = ProcessedBatch(messages=[{"processed": single, "correlation_id": "c7"},
    ...     {"processed": single.model_copy(update={"uid": 8})}])
    >>> [(e.uid, c) for e, c in processed(batch.model_dump_json().encode(), "ignored")]
    [(7, 'c7'), (8, None)]
    """
    decoded = _PROCESSED.validate_json(body)
    if isinstance(decoded, ProcessedBatch):
        return [(entry.processed, entry.correlation_id) for entry in decoded.messages]
    return [(decoded, delivery_correlation)]


def outcomes(body: bytes) -> list[MessageProcessed]:
    """The outcomes in `body`, without correlation ids."""
    return [event for event, _ in processed(body, None)]


def fetched_message(messages: Sequence[tuple[MessageFetched, str | None]]) -> tuple[Contract, str | None]:
    """What to publish on `message.fetched` for `messages` (at least one), with the correlation id for its
    header: a lone message as itself, several as one `FetchedBatch` (each entry carries its own id)."""
    if len(messages) == 1:
        return messages[0]
    return FetchedBatch(messages=[FetchedEntry(fetched=event, correlation_id=c) for event, c in messages]), None


def processed_message(outcomes: Sequence[tuple[MessageProcessed, str | None]]) -> tuple[Contract, str | None]:
    """What to publish on `message.processed` for `outcomes` (at least one), as `fetched_message` does."""
    if len(outcomes) == 1:
        return outcomes[0]
    return ProcessedBatch(messages=[ProcessedEntry(processed=event, correlation_id=c) for event, c in outcomes]), None
