"""The two RabbitMQ consumers that build the email log from `message.fetched` and `message.processed`.

Thin: each is a `BatchConsumer` (shared/batch_consumer.py) that decodes the contract and records up to
a batch of events in one transaction, acking after the commit. A body that is not the contract can
never succeed, so it is rejected to the dead-letter queue at once; a batch that fails is recorded
event by event, and an event that still fails (database down) is nacked after a growing delay and
retried until the queue's delivery limit dead-letters it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import structlog
from faststream.rabbit import RabbitBroker

from intake.config_api import email_log_recording
from intake.config_api.metrics import ConfigApiMetrics
from intake.shared import batched_events, bus, topology
from intake.shared.batch_consumer import BatchConsumer
from intake.shared.contracts import MessageFetched, MessageProcessed, MessageRef

log = structlog.get_logger(__name__)

# One transaction per batch: at a few hundred messages a second most batches stay far below this.
BATCH_SIZE = 200
# Deliveries in hand: each holds one event or a batch of them (up to one FETCH run of 32, or one
# ingestor transaction of 100).
PREFETCH = 128


C = TypeVar("C", bound=MessageRef)
# An event with the correlation id its delivery carried (`x-correlation-id`).
Correlated = tuple[C, str | None]


def _fetched(body: bytes, headers: Mapping[str, Any]) -> list[Correlated[MessageFetched]]:
    """One fetched message, or the fetcher's batch of them (`batched_events.py`)."""
    return batched_events.fetched(body, bus.correlation_id(headers))


def _processed(body: bytes, headers: Mapping[str, Any]) -> list[Correlated[MessageProcessed]]:
    """One outcome, or the ingestor's batch of them (`batched_events.py`)."""
    return batched_events.processed(body, bus.correlation_id(headers))


def _consumer(
    queue: str,
    routing_key: str,
    delivery_limit: int,
    decode: Callable[[bytes, Mapping[str, Any]], Sequence[Correlated[C]]],
    record: Callable[[Sequence[Correlated[C]]], Awaitable[None]],
) -> BatchConsumer[Correlated[C]]:
    return BatchConsumer(
        topology.work_queue(queue, routing_key, delivery_limit),
        decode,
        record,
        batch_size=BATCH_SIZE,
        prefetch=PREFETCH,
        with_headers=True,
    )


def _written(
    kind: str,
    items: Sequence[tuple[MessageFetched | MessageProcessed, str | None]],
    times: Sequence[datetime],
    metrics: ConfigApiMetrics,
) -> None:
    """After a batch committed: each row's write lag (from the event's own time) and one log line naming
    every message by inbox, UID, Message-ID and correlation id."""
    now = time.time()
    for moment in times:
        metrics.email_log_write_lag.observe(max(0.0, now - moment.timestamp()))
    log.info(
        "email log written",
        kind=kind,
        messages=[
            {
                "inbox_id": event.inbox_id,
                "uid": event.uid,
                "message_id": event.message_id,
                "correlation_id": correlation,
            }
            for event, correlation in items
        ],
    )


class EmailLogConsumers:
    """Both consumers of the email log; `start` once the broker is connected and the topology declared."""

    def __init__(self, pool: asyncpg.Pool, delivery_limit: int, metrics: ConfigApiMetrics | None = None) -> None:
        counted = metrics if metrics is not None else ConfigApiMetrics()

        async def fetched(items: Sequence[Correlated[MessageFetched]]) -> None:
            await email_log_recording.record_fetched_batch(pool, [event for event, _ in items], [c for _, c in items])
            _written("fetched", items, [event.fetched_at for event, _ in items], counted)

        async def processed(items: Sequence[Correlated[MessageProcessed]]) -> None:
            await email_log_recording.record_processed_batch(pool, [event for event, _ in items], [c for _, c in items])
            _written("processed", items, [event.processed_at for event, _ in items], counted)

        self._consumers: tuple[
            BatchConsumer[Correlated[MessageFetched]], BatchConsumer[Correlated[MessageProcessed]]
        ] = (
            _consumer(topology.EMAIL_LOG_FETCHED_QUEUE, topology.MESSAGE_FETCHED, delivery_limit, _fetched, fetched),
            _consumer(
                topology.EMAIL_LOG_PROCESSED_QUEUE,
                topology.MESSAGE_PROCESSED,
                delivery_limit,
                _processed,
                processed,
            ),
        )

    async def start(self, broker: RabbitBroker) -> None:
        for consumer in self._consumers:
            await consumer.start(broker)

    async def close(self) -> None:
        await asyncio.gather(*(consumer.close() for consumer in self._consumers))
