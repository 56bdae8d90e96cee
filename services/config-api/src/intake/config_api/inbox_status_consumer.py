"""The RabbitMQ consumer that keeps `config.inbox_status` from `inbox.status` (queue `config-api.inbox-status`).

Thin, like the email log's consumers: decode the contract, record it, ack after the commit. A body that
is not the contract is rejected to the dead-letter queue at once; any other error is nacked after a
growing delay (`bus.backoff_before_requeue`, as `ack_policy.settle` says) until the queue's delivery
limit dead-letters it.
"""

from __future__ import annotations

import asyncpg
import structlog
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from intake.config_api.event_decoding import decode_or_reject
from intake.config_api.inbox_status import record_status
from intake.shared import bus, topology
from intake.shared.contracts import InboxStatus

log = structlog.get_logger(__name__)


def register_inbox_status_consumer(broker: RabbitBroker, pool: asyncpg.Pool, delivery_limit: int) -> None:
    """Subscribe the inbox health handler on `broker` (before it starts), writing through `pool`."""
    queue = topology.work_queue(topology.INBOX_STATUS_QUEUE, topology.INBOX_STATUS, delivery_limit)

    @broker.subscriber(queue, topology.EXCHANGE, ack_policy=AckPolicy.NACK_ON_ERROR)
    async def handle(message: RabbitMessage) -> None:
        report = decode_or_reject(InboxStatus, message.body, topology.INBOX_STATUS_QUEUE)
        async with bus.backoff_before_requeue(message.headers, delivery_limit):
            changed = await record_status(pool, report)
        log.debug(
            "inbox status recorded" if changed else "inbox status ignored (older, or inbox gone)",
            inbox_id=report.inbox_id,
            state=report.state.value,
        )
