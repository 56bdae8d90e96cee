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
from faststream.exceptions import RejectMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from intake.config_api import email_log
from intake.shared import bus, topology
from intake.shared.contracts import MessageFetched, MessageProcessed, MessageRef

log = structlog.get_logger(__name__)

C = TypeVar("C", bound=MessageRef)


def _decode(contract: type[C], body: bytes, queue: str) -> C:
    try:
        return contract.model_validate_json(body)
    except ValidationError as error:
        # The first error's location and type say what is wrong without echoing the body.
        first = error.errors()[0]
        log.error("rejecting undecodable event", queue=queue, loc=list(first["loc"]), error_type=first["type"])
        raise RejectMessage from None


def register_email_log_consumers(broker: RabbitBroker, pool: asyncpg.Pool, delivery_limit: int) -> None:
    """Subscribe the email log's handlers on `broker` (before it starts), writing through `pool`."""

    def consumer(
        queue_name: str, routing_key: str, contract: type[C], record: Callable[[asyncpg.Pool, C], Awaitable[None]]
    ) -> None:
        queue = topology.work_queue(queue_name, routing_key, delivery_limit)

        @broker.subscriber(queue, topology.EXCHANGE, ack_policy=AckPolicy.NACK_ON_ERROR)
        async def handle(message: RabbitMessage) -> None:
            event = _decode(contract, message.body, queue_name)
            async with bus.backoff_before_requeue(message.headers):
                # A single upsert is its own transaction: committed when execute returns, then faststream acks.
                await record(pool, event)
            log.debug("email log updated", queue=queue_name, inbox_id=event.inbox_id, uid=event.uid)

    consumer(topology.EMAIL_LOG_FETCHED_QUEUE, topology.MESSAGE_FETCHED, MessageFetched, email_log.record_fetched)
    consumer(
        topology.EMAIL_LOG_PROCESSED_QUEUE, topology.MESSAGE_PROCESSED, MessageProcessed, email_log.record_processed
    )
