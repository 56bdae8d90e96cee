"""The two RabbitMQ consumers that build the email log from `message.fetched` and `message.processed`.

Thin: decode the contract, record it, and let the ack follow the commit. A body that is not the
contract can never succeed, so it is rejected to the dead-letter queue at once; any other error
(database down) is nacked after a growing delay and retried until the queue's delivery limit
dead-letters it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from intake.config_api import email_log
from intake.config_api.event_bodies import decode_or_reject
from intake.shared import bus, topology
from intake.shared.contracts import MessageFetched, MessageProcessed, MessageRef

log = structlog.get_logger(__name__)

C = TypeVar("C", bound=MessageRef)


def register_email_log_consumers(broker: RabbitBroker, pool: asyncpg.Pool, delivery_limit: int) -> None:
    """Subscribe the email log's handlers on `broker` (before it starts), writing through `pool`."""

    def consumer(
        queue_name: str, routing_key: str, contract: type[C], record: Callable[[asyncpg.Pool, C], Awaitable[None]]
    ) -> None:
        queue = topology.work_queue(queue_name, routing_key, delivery_limit)

        @broker.subscriber(queue, topology.EXCHANGE, ack_policy=AckPolicy.NACK_ON_ERROR)
        async def handle(message: RabbitMessage) -> None:
            event = decode_or_reject(contract, message.body, queue_name)
            async with bus.backoff_before_requeue(message.headers):
                # A single upsert is its own transaction: committed when execute returns, then faststream acks.
                await record(pool, event)
            log.debug("email log updated", queue=queue_name, inbox_id=event.inbox_id, uid=event.uid)

    consumer(topology.EMAIL_LOG_FETCHED_QUEUE, topology.MESSAGE_FETCHED, MessageFetched, email_log.record_fetched)
    consumer(
        topology.EMAIL_LOG_PROCESSED_QUEUE, topology.MESSAGE_PROCESSED, MessageProcessed, email_log.record_processed
    )
