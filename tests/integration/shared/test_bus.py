"""The bus against a real RabbitMQ: topology declared by any service routes to every consumer's queue."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
import pytest
from aiormq.exceptions import ChannelPreconditionFailed

from intake.shared import bus, topology
from intake.shared.contracts import InboxChanged, MessageFetched
from intake.shared.event_publisher import BrokerPublisher


def event() -> MessageFetched:
    return MessageFetched(
        inbox_id=1, uidvalidity=1, uid=1, raw_sha256="c" * 64, size=1, fetched_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


async def queue_depth(amqp_url: str, name: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)


async def test_a_publisher_alone_reaches_every_consumers_queue(amqp_url: str) -> None:
    """The fetcher may publish before the ingestor or config-api ever started: nothing may be lost."""
    broker = bus.create_broker(amqp_url)
    await bus.connect_broker(broker, wait_seconds=10)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        await bus.publish(broker, event(), topology.MESSAGE_FETCHED)
    finally:
        await broker.stop()
    assert await queue_depth(amqp_url, topology.INGESTOR_QUEUE) == 1
    assert await queue_depth(amqp_url, topology.EMAIL_LOG_FETCHED_QUEUE) == 1
    assert await queue_depth(amqp_url, topology.FETCHER_PROCESSED_QUEUE) == 0


async def test_unroutable_publish_raises(amqp_url: str) -> None:
    broker = bus.create_broker(amqp_url)
    await bus.connect_broker(broker, wait_seconds=10)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        with pytest.raises(aio_pika.exceptions.DeliveryError):
            await bus.publish(broker, event(), "no.such.key")
    finally:
        await broker.stop()


async def test_publish_each_tells_which_publishes_were_confirmed(amqp_url: str) -> None:
    broker = bus.create_broker(amqp_url)
    await bus.connect_broker(broker, wait_seconds=10)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        results = await bus.publish_each(
            broker,
            [
                (event(), topology.MESSAGE_FETCHED, True),
                (event(), "no.such.key", True),  # unroutable: returned, not confirmed
                (event(), "no.such.key", False),  # a notification nobody listens to: fine
                (event(), topology.MESSAGE_FETCHED, True),
            ],
        )
    finally:
        await broker.stop()
    assert [result is None for result in results] == [True, False, True, True]
    assert isinstance(results[1], aio_pika.exceptions.AMQPError)
    assert await queue_depth(amqp_url, topology.INGESTOR_QUEUE) == 2


async def test_broker_publisher_sends_persistent_correlated_messages_and_notifications_without_listeners(
    amqp_url: str,
) -> None:
    """The port's real adapter: what the services publish is persistent JSON with its correlation id, and
    a notification (`mandatory=False`) nobody listens to is not an error."""
    broker = bus.create_broker(amqp_url, app_id="intake-test")
    await bus.connect_broker(broker, wait_seconds=10)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        publisher = BrokerPublisher(broker)
        await publisher.publish(event(), topology.MESSAGE_FETCHED, correlation="c0ffee")
        changed = InboxChanged(inbox_id=7, changed_at=datetime(2026, 1, 1, tzinfo=UTC))
        await publisher.publish(changed, "no.listener.here", mandatory=False)
        assert await publisher.publish_each([(event(), "no.such.key", True)]) != [None]
    finally:
        await broker.stop()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.INGESTOR_QUEUE, passive=True)
        message = await queue.get(no_ack=True)
    assert message is not None
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert message.headers[topology.CORRELATION_HEADER] == "c0ffee"
    assert MessageFetched.model_validate_json(message.body) == event()


async def test_a_different_delivery_limit_is_refused_not_ignored(amqp_url: str) -> None:
    broker = bus.create_broker(amqp_url)
    await bus.connect_broker(broker, wait_seconds=10)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        with pytest.raises(ChannelPreconditionFailed):
            await bus.declare_topology(broker, delivery_limit=7)
    finally:
        await broker.stop()
