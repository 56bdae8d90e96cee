"""The two RabbitMQ consumers that build the email log from `message.fetched` and `message.processed`.

Thin: each is a `BatchConsumer` (shared/batch_consumer.py) that decodes the contract and records up to
a batch of events in one transaction, acking after the commit. A body that is not the contract can
never succeed, so it is rejected to the dead-letter queue at once; a batch that fails is recorded
event by event, and an event that still fails (database down) is nacked after a growing delay and
retried until the queue's delivery limit dead-letters it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from faststream.rabbit import RabbitBroker

from intake.config_api import email_log
from intake.shared import topology
from intake.shared.batch_consumer import BatchConsumer
from intake.shared.contracts import MessageFetched, MessageProcessed, MessageRef

# One transaction per batch: at a few hundred messages a second most batches stay far below this.
BATCH_SIZE = 200
PREFETCH = 400


C = TypeVar("C", bound=MessageRef)


def _consumer(
    queue: str,
    routing_key: str,
    delivery_limit: int,
    contract: type[C],
    record: Callable[[Sequence[C]], Awaitable[None]],
) -> BatchConsumer[C]:
    return BatchConsumer(
        topology.work_queue(queue, routing_key, delivery_limit),
        contract.model_validate_json,
        record,
        batch_size=BATCH_SIZE,
        prefetch=PREFETCH,
    )


class EmailLogConsumers:
    """Both consumers of the email log; `start` once the broker is connected and the topology declared."""

    def __init__(self, pool: asyncpg.Pool, delivery_limit: int) -> None:
        async def fetched(events: Sequence[MessageFetched]) -> None:
            await email_log.record_fetched_batch(pool, events)

        async def processed(events: Sequence[MessageProcessed]) -> None:
            await email_log.record_processed_batch(pool, events)

        self._consumers: tuple[BatchConsumer[MessageFetched], BatchConsumer[MessageProcessed]] = (
            _consumer(
                topology.EMAIL_LOG_FETCHED_QUEUE, topology.MESSAGE_FETCHED, delivery_limit, MessageFetched, fetched
            ),
            _consumer(
                topology.EMAIL_LOG_PROCESSED_QUEUE,
                topology.MESSAGE_PROCESSED,
                delivery_limit,
                MessageProcessed,
                processed,
            ),
        )

    async def start(self, broker: RabbitBroker) -> None:
        for consumer in self._consumers:
            await consumer.start(broker)

    async def close(self) -> None:
        await asyncio.gather(*(consumer.close() for consumer in self._consumers))
