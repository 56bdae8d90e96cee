"""BatchConsumer against a real RabbitMQ: batches, one ack for many, never an ack for unfinished work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import aio_pika
from faststream.rabbit import RabbitBroker
from pydantic import TypeAdapter

from intake.shared import bus, topology
from intake.shared.batch_consumer import BatchConsumer
from intake.shared.contracts import MessageFetched
from intake.shared.event_publisher import BrokerPublisher, publish_all
from tests.integration.shared.test_bus import queue_depth

QUEUE = topology.EMAIL_LOG_FETCHED_QUEUE
DELIVERY_LIMIT = 2


def event(uid: int) -> MessageFetched:
    return MessageFetched(
        inbox_id=1, uidvalidity=1, uid=uid, raw_sha256="c" * 64, size=1, fetched_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


async def connected(amqp_url: str) -> RabbitBroker:
    broker = bus.create_broker(amqp_url)
    await bus.connect_broker(broker, wait_seconds=10)
    await bus.declare_topology(broker, delivery_limit=DELIVERY_LIMIT)
    return broker


def consumer(
    record: Callable[[Sequence[MessageFetched]], Awaitable[None]], batch_size: int = 50
) -> BatchConsumer[MessageFetched]:
    return BatchConsumer(
        topology.work_queue(QUEUE, topology.MESSAGE_FETCHED, DELIVERY_LIMIT),
        lambda body: [MessageFetched.model_validate_json(body)],
        record,
        batch_size=batch_size,
        prefetch=200,
    )


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def first_dead_letter(broker: RabbitBroker, timeout: float = 15.0) -> aio_pika.abc.AbstractIncomingMessage | None:
    """The first message in the dead-letter queue, taken off it; None if none arrives in time."""
    dead = await broker.declare_queue(topology.dead_letter_queue())
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await dead.get(fail=False, no_ack=True)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    return None


async def test_events_are_recorded_in_batches_and_all_acked(amqp_url: str) -> None:
    broker = await connected(amqp_url)
    batches: list[list[int]] = []

    async def record(events: Sequence[MessageFetched]) -> None:
        batches.append([e.uid for e in events])

    try:
        await publish_all(
            BrokerPublisher(broker), [(event(uid), topology.MESSAGE_FETCHED, True) for uid in range(1, 301)]
        )
        batch_consumer = consumer(record)
        await batch_consumer.start(broker)
        await wait_for(lambda: sum(map(len, batches)) >= 300)
        await batch_consumer.close()
    finally:
        await broker.stop()
    assert sorted(uid for batch in batches for uid in batch) == list(range(1, 301))
    assert max(map(len, batches)) <= 50
    assert len(batches) < 30
    # Every delivery was acked: nothing comes back once the connection is gone.
    assert await queue_depth(amqp_url, QUEUE) == 0


async def test_one_failing_event_fails_alone_and_is_never_acked_with_its_batch(amqp_url: str) -> None:
    """The failing event is the oldest delivery: a `multiple` ack for the later batch (or for its own
    batch's other events) would settle it too. It must stay unsettled (backing off), then be
    requeued, then dead-lettered."""
    broker = await connected(amqp_url)
    recorded: list[int] = []
    attempts: list[int] = []

    async def record(events: Sequence[MessageFetched]) -> None:
        if any(e.uid == 1 for e in events):
            attempts.append(len(events))
            raise RuntimeError("uid 1 can never be stored")
        recorded.extend(e.uid for e in events)

    try:
        await publish_all(
            BrokerPublisher(broker), [(event(uid), topology.MESSAGE_FETCHED, True) for uid in range(1, 101)]
        )
        batch_consumer = consumer(record)
        await batch_consumer.start(broker)
        await wait_for(lambda: len(recorded) >= 99)
        # Uid 1 is now backing off (1 s) unacknowledged; stop here and give it back to the queue.
        await batch_consumer.close()
    finally:
        await broker.stop()
    assert sorted(recorded) == list(range(2, 101))
    assert attempts[0] > 1  # it failed in a batch first, then on its own
    assert await queue_depth(amqp_url, QUEUE) == 1

    # Consumed again, it fails until the delivery limit moves it to the dead-letter queue.
    broker = await connected(amqp_url)
    try:
        batch_consumer = consumer(record)
        await batch_consumer.start(broker)
        await wait_for(lambda: len(attempts) >= 3, timeout=30)
        message = await first_dead_letter(broker)
        await batch_consumer.close()
    finally:
        await broker.stop()
    assert message is not None
    assert MessageFetched.model_validate_json(message.body).uid == 1
    assert sorted(recorded) == list(range(2, 101))


async def test_a_stop_finishes_and_acks_the_events_being_recorded_one_by_one(amqp_url: str) -> None:
    """After a failed batch each event is recorded on its own. A stop in the middle lets each recording
    finish and acks it: cancelled between its commit and its ack, an event would come back and be
    recorded again (CI once found 39 of 99 recorded events still in the queue after a stop)."""
    broker = await connected(amqp_url)
    started: list[int] = []
    recorded: list[int] = []
    closing: list[asyncio.Task[None]] = []

    async def record(events: Sequence[MessageFetched]) -> None:
        if len(events) > 1:
            raise RuntimeError("the batch fails, so each event is recorded on its own")
        started.append(events[0].uid)
        if len(started) == 20:  # every event is being recorded: stop now
            closing.append(asyncio.create_task(batch_consumer.close()))
        await asyncio.sleep(0.3)  # a write that takes a moment
        recorded.append(events[0].uid)

    try:
        await publish_all(
            BrokerPublisher(broker), [(event(uid), topology.MESSAGE_FETCHED, True) for uid in range(1, 21)]
        )
        batch_consumer = consumer(record)
        await batch_consumer.start(broker)
        await wait_for(lambda: bool(closing))
        await closing[0]
    finally:
        await broker.stop()
    assert sorted(recorded) == list(range(1, 21))
    assert await queue_depth(amqp_url, QUEUE) == 0


async def test_an_undecodable_body_is_dead_lettered_and_the_rest_recorded(amqp_url: str) -> None:
    broker = await connected(amqp_url)
    recorded: list[int] = []

    async def record(events: Sequence[MessageFetched]) -> None:
        recorded.extend(e.uid for e in events)

    try:
        await bus.publish(broker, event(1), topology.MESSAGE_FETCHED)
        await broker.publish(
            b'{"not": "a contract"}', exchange=topology.EXCHANGE, routing_key=topology.MESSAGE_FETCHED, persist=True
        )
        await bus.publish(broker, event(2), topology.MESSAGE_FETCHED)
        batch_consumer = consumer(record)
        await batch_consumer.start(broker)
        await wait_for(lambda: len(recorded) >= 2)
        message = await first_dead_letter(broker)
        await batch_consumer.close()
    finally:
        await broker.stop()
    assert sorted(recorded) == [1, 2]
    assert message is not None
    assert message.body == b'{"not": "a contract"}'
    assert await queue_depth(amqp_url, QUEUE) == 0


async def test_deliveries_of_several_events_are_batched_by_event_and_a_bad_event_holds_back_only_its_delivery(
    amqp_url: str,
) -> None:
    """A delivery may carry several events (the ingestor's `ProcessedBatch`). Batches count events; when
    one event of a delivery fails, the delivery's other events are still recorded, and only that
    delivery is retried and finally dead-lettered, whole."""
    broker = await connected(amqp_url)
    recorded: list[int] = []
    sizes: list[int] = []
    several = TypeAdapter(list[MessageFetched])

    async def record(events: Sequence[MessageFetched]) -> None:
        sizes.append(len(events))
        if any(e.uid == 5 for e in events):
            raise RuntimeError("uid 5 can never be stored")
        recorded.extend(e.uid for e in events)

    def body(uids: Sequence[int]) -> bytes:
        return several.dump_json([event(uid) for uid in uids])

    try:
        for uids in ([1, 2, 3], [4, 5, 6], [7], [8, 9, 10, 11]):
            await broker.publish(
                body(uids), exchange=topology.EXCHANGE, routing_key=topology.MESSAGE_FETCHED, persist=True
            )
        batch_consumer = BatchConsumer(
            topology.work_queue(QUEUE, topology.MESSAGE_FETCHED, DELIVERY_LIMIT),
            several.validate_json,
            record,
            batch_size=4,
            prefetch=200,
        )
        await batch_consumer.start(broker)
        message = await first_dead_letter(broker, timeout=30)
        await batch_consumer.close()
    finally:
        await broker.stop()
    assert set(recorded) == {1, 2, 3, 4, 6, 7, 8, 9, 10, 11}
    assert max(sizes) <= 4
    assert message is not None
    assert [e.uid for e in several.validate_json(message.body)] == [4, 5, 6]
    assert await queue_depth(amqp_url, QUEUE) == 0
