"""RabbitMQ names and declarations: the `intake` topic exchange, routing keys, queues and the dead-letter path.

Every durable queue is a quorum queue with a dead-letter exchange and an explicit delivery limit,
so a message that keeps failing ends in `intake.dead-letter` instead of looping (DESIGN §2).
"""

from __future__ import annotations

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

EXCHANGE_NAME = "intake"
DEAD_LETTER_EXCHANGE_NAME = "intake.dlx"
DEAD_LETTER_QUEUE_NAME = "intake.dead-letter"

MESSAGE_FETCHED = "message.fetched"
MESSAGE_PROCESSED = "message.processed"
INBOX_STATUS = "inbox.status"
INBOX_CHANGED = "inbox.changed"
ISSUE_CREATED = "issue.created"
ISSUE_UPDATED = "issue.updated"

INGESTOR_QUEUE = "ingestor.message-fetched"
FETCHER_PROCESSED_QUEUE = "fetcher.message-processed"
EMAIL_LOG_FETCHED_QUEUE = "config-api.email-log.fetched"
EMAIL_LOG_PROCESSED_QUEUE = "config-api.email-log.processed"

DEFAULT_DELIVERY_LIMIT = 5

EXCHANGE = RabbitExchange(EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True)
DEAD_LETTER_EXCHANGE = RabbitExchange(DEAD_LETTER_EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True)


def work_queue(name: str, routing_key: str, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> RabbitQueue:
    """A durable quorum queue bound to `routing_key` that dead-letters after `delivery_limit` deliveries."""
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments={
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE_NAME,
            "x-delivery-limit": delivery_limit,
        },
    )


def dead_letter_queue() -> RabbitQueue:
    """Everything dead-lettered from any work queue, kept until `make replay-dlq` moves it back."""
    return RabbitQueue(
        DEAD_LETTER_QUEUE_NAME,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key="#",
    )
