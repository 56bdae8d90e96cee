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

# The AMQP header that carries a message's correlation id: set by the fetcher on `message.fetched`,
# copied by the ingestor onto `message.processed` and the issue event, logged by every service.
CORRELATION_HEADER = "x-correlation-id"

INGESTOR_QUEUE = "ingestor.message-fetched"
FETCHER_PROCESSED_QUEUE = "fetcher.message-processed"
EMAIL_LOG_FETCHED_QUEUE = "config-api.email-log.fetched"
EMAIL_LOG_PROCESSED_QUEUE = "config-api.email-log.processed"
INBOX_STATUS_QUEUE = "config-api.inbox-status"

# Every work queue and the routing key it is bound with. Each service declares all of them at start,
# so a message is never published before the queues of all its consumers exist: RabbitMQ would route
# it only to the queues already there, and `mandatory` does not catch a partial route.
WORK_QUEUES: tuple[tuple[str, str], ...] = (
    (INGESTOR_QUEUE, MESSAGE_FETCHED),
    (EMAIL_LOG_FETCHED_QUEUE, MESSAGE_FETCHED),
    (FETCHER_PROCESSED_QUEUE, MESSAGE_PROCESSED),
    (EMAIL_LOG_PROCESSED_QUEUE, MESSAGE_PROCESSED),
    (INBOX_STATUS_QUEUE, INBOX_STATUS),
)
# `inbox.changed` goes to one transient queue per fetcher replica, and `issue.*` to whoever binds a
# queue for them: both are published with `mandatory=False` (see bus.publish_event), since having no
# listener is normal for them.


EXCHANGE = RabbitExchange(EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True)
DEAD_LETTER_EXCHANGE = RabbitExchange(DEAD_LETTER_EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True)


def work_queue(name: str, routing_key: str, delivery_limit: int) -> RabbitQueue:
    """A durable quorum queue bound to `routing_key` that dead-letters after `delivery_limit` deliveries."""
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments={
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE_NAME,
            "x-delivery-limit": delivery_limit,
            # The default, at-most-once, drops a dead-lettered message the dead-letter queue cannot
            # take; at-least-once keeps it until the dead-letter queue confirms it (needs reject-publish).
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
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
