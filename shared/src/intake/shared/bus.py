"""The RabbitMQ connection every service uses: publisher confirms on, unroutable messages raise.

`create_broker` builds (does not connect) a faststream broker; `connect_broker` waits for RabbitMQ;
`declare_topology` declares the exchanges and every queue; `start_broker` does all three in order;
`publish` sends one contract as a persistent, confirmed message; `publish_each` sends many at once
and waits for all their confirms. The services publish through `event_publisher.BrokerPublisher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aio_pika
import aiormq
import structlog
from faststream.rabbit import Channel, RabbitBroker

from intake.shared import topology
from intake.shared.ack_policy import Ending, delivery_attempt, settle
from intake.shared.contracts import Contract

log = structlog.get_logger(__name__)

# A publish that RabbitMQ neither confirms nor returns within this many seconds is an error.
PUBLISH_TIMEOUT_SECONDS = 10.0
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


def create_broker(
    amqp_url: str, *, prefetch_count: int = 32, app_id: str = "intake", apply_types: bool = True
) -> RabbitBroker:
    """A broker whose default channel confirms every publish and raises on an unroutable one.

    `apply_types=False` turns off faststream's dependency injection for its subscribers: a handler
    then gets what its subscriber's decoder returns. Injecting the message (`Context`) runs a sync
    resolver in a worker thread per message, a cost a high-rate consumer can skip."""
    return RabbitBroker(
        amqp_url,
        default_channel=Channel(
            prefetch_count=prefetch_count,
            publisher_confirms=True,
            on_return_raises=True,
        ),
        app_id=app_id,
        apply_types=apply_types,
        # Handlers log what they did themselves; faststream's per-message lines cost throughput.
        logger=None,
    )


async def connect_broker(broker: RabbitBroker, wait_seconds: float = 60.0) -> None:
    """Connect, retrying while RabbitMQ is starting or unreachable for up to `wait_seconds`."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            await broker.connect()
            return
        except OSError as error:  # aiormq's AMQPConnectionError is a ConnectionError
            if time.monotonic() >= deadline:
                raise
            log.warning("broker not reachable yet, retrying", error=str(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def declare_topology(broker: RabbitBroker, delivery_limit: int) -> None:
    """Declare the exchanges, every work queue with its binding, and the dead-letter queue.

    Every service calls this before it publishes or consumes, whatever order they start in.
    """
    exchange = await broker.declare_exchange(topology.EXCHANGE)
    dead_letter_exchange = await broker.declare_exchange(topology.DEAD_LETTER_EXCHANGE)
    dead_letters = await broker.declare_queue(topology.dead_letter_queue())
    await dead_letters.bind(dead_letter_exchange, routing_key="#")
    for name, routing_key in topology.WORK_QUEUES:
        queue = await broker.declare_queue(topology.work_queue(name, routing_key, delivery_limit))
        await queue.bind(exchange, routing_key=routing_key)


async def start_broker(broker: RabbitBroker, delivery_limit: int, wait_seconds: float = 60.0) -> None:
    """Connect (waiting for RabbitMQ), declare the whole topology, then start the registered subscribers."""
    await connect_broker(broker, wait_seconds)
    await declare_topology(broker, delivery_limit)
    await broker.start()


@contextlib.asynccontextmanager
async def backoff_before_requeue(headers: Mapping[str, Any], delivery_limit: int) -> AsyncIterator[None]:
    """Around a handler whose errors make faststream requeue the delivery: wait as `ack_policy.settle`
    says first (not at all on the last attempt, which RabbitMQ then dead-letters).

    The delivery stays unacknowledged while waiting; if the process stops meanwhile, RabbitMQ
    redelivers it. Errors pass through unchanged.
    """
    try:
        yield
    except Exception as error:
        settlement = settle(Ending.FAILED, delivery_attempt(headers), delivery_limit)
        log.warning(
            "handling failed, requeueing after a delay" if settlement.delay_seconds else "handling failed",
            error=f"{type(error).__name__}: {error}",
            retry_in=settlement.delay_seconds,
            why=settlement.reason,
        )
        await asyncio.sleep(settlement.delay_seconds)
        raise


def correlation_id(headers: Mapping[str, Any]) -> str | None:
    """The message's correlation id from its AMQP headers (`x-correlation-id`), if it has one.

    >>> correlation_id({"x-correlation-id": "3f2a"}), correlation_id({}), correlation_id({"x-correlation-id": 7})
    ('3f2a', None, None)
    """
    value = headers.get(topology.CORRELATION_HEADER)
    return value if isinstance(value, str) and value else None


def _headers(correlation: str | None) -> dict[str, Any] | None:
    return {topology.CORRELATION_HEADER: correlation} if correlation else None


async def publish(
    broker: RabbitBroker,
    event: Contract,
    routing_key: str,
    *,
    mandatory: bool = True,
    correlation: str | None = None,
) -> None:
    """Publish `event` on the `intake` exchange: persistent, confirmed before returning, and by default
    mandatory (unroutable raises). `mandatory=False` is for notifications that may have no listener.
    `correlation` goes in the `x-correlation-id` header."""
    await broker.publish(
        event.model_dump_json().encode(),
        exchange=topology.EXCHANGE,
        routing_key=routing_key,
        persist=True,
        mandatory=mandatory,
        content_type="application/json",
        timeout=PUBLISH_TIMEOUT_SECONDS,
        headers=_headers(correlation),
    )


async def publish_each(
    broker: RabbitBroker,
    events: Sequence[tuple[Contract, str, bool]],
    correlations: Sequence[str | None] | None = None,
) -> list[BaseException | None]:
    """Publish each (event, routing key, mandatory) as `publish` does, all at once: every publish goes
    out before the first confirm is awaited. `correlations`, one per event, go in their
    `x-correlation-id` headers. Returns, per event, None when RabbitMQ confirmed it or
    the error that ended it (a nack, a return of a mandatory one, a closed channel, a timeout).

    Straight on the broker's confirming channel (aiormq, under aio-pika's exchange): faststream's and
    aio-pika's per-message publish machinery costs more than the publish itself, and aiormq's
    default waits for each frame to be written before the next may queue (`wait=False` skips that;
    every publish is still confirmed, and the caller bounds how many go at once)."""
    exchange = await broker.declare_exchange(topology.EXCHANGE)
    if exchange.channel.is_closed:
        raise aiormq.exceptions.ChannelInvalidStateError(f"{exchange.channel!r} closed")
    channel = await exchange.channel.get_underlay_channel()
    if not isinstance(channel, aiormq.Channel):  # what aio-pika opens; `wait` is not in the abstract type
        raise TypeError(f"expected an aiormq channel, got {type(channel).__name__}")
    app_id = broker.config.app_id
    correlated = correlations if correlations is not None else [None] * len(events)
    results = await asyncio.gather(
        *(
            channel.basic_publish(
                event.model_dump_json().encode(),
                exchange=topology.EXCHANGE_NAME,
                routing_key=routing_key,
                properties=aiormq.spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=PERSISTENT,
                    app_id=app_id,
                    headers=_headers(correlation),
                ),
                mandatory=mandatory,
                timeout=PUBLISH_TIMEOUT_SECONDS,
                wait=False,
            )
            for (event, routing_key, mandatory), correlation in zip(events, correlated, strict=True)
        ),
        return_exceptions=True,
    )
    return [result if isinstance(result, BaseException) else None for result in results]
