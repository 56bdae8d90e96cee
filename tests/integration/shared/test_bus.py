"""The bus against a real RabbitMQ: topology declared by any service routes to every consumer's queue."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
import pytest
from aiormq.exceptions import ChannelPreconditionFailed

from intake.shared import bus, topology
from intake.shared.contracts import MessageFetched


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


async def test_a_different_delivery_limit_is_refused_not_ignored(amqp_url: str) -> None:
    broker = bus.create_broker(amqp_url)
    await bus.connect_broker(broker, wait_seconds=10)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        with pytest.raises(ChannelPreconditionFailed):
            await bus.declare_topology(broker, delivery_limit=7)
    finally:
        await broker.stop()
