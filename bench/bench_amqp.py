"""The bus's share of a message (issue 13): what a confirmed publish and a delivery cost, client and RabbitMQ.

Every message that becomes an issue crosses RabbitMQ seven times (DESIGN §2): three confirmed
publishes (`message.fetched`, routed to the ingestor's and the email log's queues; `message.processed`,
routed to the fetcher's and the email log's; `issue.created`, routed nowhere unless someone binds a
queue) and four deliveries, each acked after its batch. Under load the first two travel in batches
(`FetchedBatch` of one FETCH run, up to 32; `ProcessedBatch` of one ingestor transaction, up to 100),
so their publishes and deliveries are shared by the messages of a batch. This measures each
operation alone, per message, both for lone events and for full batches, with the services' own
code and nothing else: `event_publisher.publish_all` on `BrokerPublisher` (as the fetcher and the
ingestor publish) and the shared `BatchConsumer` with a record that does nothing (as config-api and
the fetcher consume), on the quorum queues `bus.declare_topology` declares, in a fresh vhost. CPU is this process's
(`time.process_time`) and RabbitMQ's (`beam.smp`, from /proc). The sum over one message's operations
is the floor any change to the services' own code leaves.
Run: `make bench BENCH=amqp`; BENCH_AMQP_MESSAGES (6400) changes N.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from faststream.rabbit import RabbitBroker

from bench.bench_ingestor import cpu_by_process
from bench.environment import Environment
from bench.report import write_section
from intake.fetcher.fetch_runs import MAX_BODIES_PER_FETCH
from intake.shared import batched_events, bus, topology
from intake.shared.batch_consumer import BatchConsumer
from intake.shared.contracts import Contract, IssueEvent, IssueEventKind, MessageFetched, MessageProcessed, Outcome
from intake.shared.event_publisher import BrokerPublisher, publish_all

MESSAGES = int(os.environ.get("BENCH_AMQP_MESSAGES", "6400"))
# Publishes whose confirms are awaited together.
BATCH = 100
# The entries of a full FetchedBatch (one FETCH run) and of a full ProcessedBatch (one transaction).
FETCH_RUN = MAX_BODIES_PER_FETCH
TRANSACTION = 100
ROUNDS = 3
DELIVERY_LIMIT = 5
NOW = datetime.now(UTC)


def rabbitmq_cpu_seconds() -> float:
    """User + system CPU seconds of every `beam.smp` process (the RabbitMQ node)."""
    return sum(seconds for command, seconds in cpu_by_process().values() if command == "beam.smp")


def fetched(uid: int) -> MessageFetched:
    return MessageFetched(
        inbox_id=1,
        uidvalidity=1,
        uid=uid,
        raw_sha256="ab" * 32,
        size=3400,
        message_id=f"<{uid}.bench@example.com>",
        sender='"Jürgen Müller" <j.mueller@example.de>',
        subject="Re: Drucker im 3. Stock druckt nicht mehr",
        fetched_at=NOW,
        received_at=NOW,
    )


def processed(uid: int) -> MessageProcessed:
    return MessageProcessed(
        inbox_id=1,
        uidvalidity=1,
        uid=uid,
        raw_sha256="ab" * 32,
        message_id=f"<{uid}.bench@example.com>",
        outcome=Outcome.ISSUE_CREATED,
        reason="new issue",
        issue_number=uid,
        attempts=1,
        processed_at=NOW,
    )


def issue_created(uid: int) -> IssueEvent:
    return IssueEvent(
        kind=IssueEventKind.CREATED,
        issue_number=uid,
        inbox_id=1,
        message_id=f"<{uid}.bench@example.com>",
        title="Drucker im 3. Stock druckt nicht mehr",
        occurred_at=NOW,
    )


async def measure(operation: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(this process's, RabbitMQ's) CPU µs per message while `operation` handles MESSAGES messages."""
    client, server = time.process_time(), rabbitmq_cpu_seconds()
    await operation()
    await asyncio.sleep(0.2)  # RabbitMQ finishes writing what it confirmed
    return (
        (time.process_time() - client) / MESSAGES * 1e6,
        (rabbitmq_cpu_seconds() - server) / MESSAGES * 1e6,
    )


async def publish(broker: RabbitBroker, make: Callable[[int], Contract], routing_key: str, mandatory: bool) -> None:
    for start in range(1, MESSAGES + 1, BATCH):
        events = [(make(uid), routing_key, mandatory) for uid in range(start, min(start + BATCH, MESSAGES + 1))]
        await publish_all(
            BrokerPublisher(broker), events, [f"bench-{uid:08x}" for uid in range(start, start + len(events))]
        )


def fetched_batch(uid: int) -> Contract:
    """The FetchedBatch of FETCH_RUN messages from `uid` on (publish those from every FETCH_RUN-th uid)."""
    return batched_events.fetched_message([(fetched(n), f"bench-{n:08x}") for n in range(uid, uid + FETCH_RUN)])[0]


def processed_batch(uid: int) -> Contract:
    """The ProcessedBatch of TRANSACTION outcomes from `uid` on."""
    outcomes = [(processed(n), f"bench-{n:08x}") for n in range(uid, uid + TRANSACTION)]
    return batched_events.processed_message(outcomes)[0]


async def publish_batches(broker: RabbitBroker, make: Callable[[int], Contract], size: int, routing_key: str) -> None:
    """MESSAGES messages in batches of `size`, BATCH publishes' confirms awaited together."""
    starts = list(range(1, MESSAGES + 1, size))
    for first in range(0, len(starts), BATCH):
        events = [(make(uid), routing_key, True) for uid in starts[first : first + BATCH]]
        await publish_all(BrokerPublisher(broker), events)


async def consume(
    broker: RabbitBroker, queue: str, routing_key: str, decode: Callable[[bytes], Sequence[Contract]]
) -> None:
    """Consume MESSAGES events from `queue` as config-api and the fetcher do (decoded, batched, acked)."""
    done = asyncio.Event()
    seen = 0

    async def record(events: Sequence[Contract]) -> None:
        nonlocal seen
        seen += len(events)
        if seen >= MESSAGES:
            done.set()

    consumer: BatchConsumer[Contract] = BatchConsumer(
        topology.work_queue(queue, routing_key, DELIVERY_LIMIT),
        decode,
        record,
    )
    await consumer.start(broker)
    try:
        await asyncio.wait_for(done.wait(), timeout=300)
    finally:
        await consumer.close()


async def run_round(amqp_url: str) -> dict[str, tuple[float, float]]:
    broker = bus.create_broker(amqp_url, app_id="intake-bench")
    await bus.connect_broker(broker)
    await bus.declare_topology(broker, DELIVERY_LIMIT)
    try:
        return {
            "publish message.fetched (2 queues)": await measure(
                lambda: publish(broker, fetched, topology.MESSAGE_FETCHED, True)
            ),
            "publish message.processed (2 queues)": await measure(
                lambda: publish(broker, processed, topology.MESSAGE_PROCESSED, True)
            ),
            "publish issue.created (no queue)": await measure(
                lambda: publish(broker, issue_created, topology.ISSUE_CREATED, False)
            ),
            "delivery + ack, message.fetched": await measure(
                lambda: consume(broker, topology.INGESTOR_QUEUE, topology.MESSAGE_FETCHED, fetched_events)
            ),
            "delivery + ack, message.processed": await measure(
                lambda: consume(
                    broker, topology.FETCHER_PROCESSED_QUEUE, topology.MESSAGE_PROCESSED, batched_events.outcomes
                )
            ),
            f"publish message.fetched, FetchedBatch of {FETCH_RUN} (2 queues)": await measure(
                lambda: publish_batches(broker, fetched_batch, FETCH_RUN, topology.MESSAGE_FETCHED)
            ),
            f"publish message.processed, ProcessedBatch of {TRANSACTION} (2 queues)": await measure(
                lambda: publish_batches(broker, processed_batch, TRANSACTION, topology.MESSAGE_PROCESSED)
            ),
            f"delivery + ack, FetchedBatch of {FETCH_RUN}": await measure(
                lambda: consume(broker, topology.INGESTOR_QUEUE, topology.MESSAGE_FETCHED, fetched_events)
            ),
            f"delivery + ack, ProcessedBatch of {TRANSACTION}": await measure(
                lambda: consume(
                    broker, topology.FETCHER_PROCESSED_QUEUE, topology.MESSAGE_PROCESSED, batched_events.outcomes
                )
            ),
        }
    finally:
        await broker.stop()


def fetched_events(body: bytes) -> list[MessageFetched]:
    return [event for event, _ in batched_events.fetched(body, None)]


def per_message(
    rows: dict[str, tuple[float, float]], fetched_publish: str, processed_publish: str, fetched: str, processed: str
) -> tuple[float, float]:
    """(client, RabbitMQ) ms per message: both publishes, two deliveries of each, and issue.created."""
    operations = [
        rows[f"publish {fetched_publish}"],
        rows[f"publish {processed_publish}"],
        rows["publish issue.created (no queue)"],
        *[rows[f"delivery + ack, {fetched}"]] * 2,
        *[rows[f"delivery + ack, {processed}"]] * 2,
    ]
    return sum(c for c, _ in operations) / 1000, sum(s for _, s in operations) / 1000


async def main() -> None:
    rounds: list[dict[str, tuple[float, float]]] = []
    for number in range(ROUNDS):
        print(f"bench amqp: round {number + 1} of {ROUNDS}", flush=True)
        async with Environment() as env:
            rounds.append(await run_round(env.amqp_url))
    rows = {
        name: (statistics.median([r[name][0] for r in rounds]), statistics.median([r[name][1] for r in rounds]))
        for name in rounds[0]
    }
    # One message that becomes an issue: the three publishes, and four deliveries (two of each event),
    # as lone events and in full batches (the issue event is always alone).
    alone = per_message(
        rows, "message.fetched (2 queues)", "message.processed (2 queues)", "message.fetched", "message.processed"
    )
    batched = per_message(
        rows,
        f"message.fetched, FetchedBatch of {FETCH_RUN} (2 queues)",
        f"message.processed, ProcessedBatch of {TRANSACTION} (2 queues)",
        f"FetchedBatch of {FETCH_RUN}",
        f"ProcessedBatch of {TRANSACTION}",
    )
    lines = [
        f"{MESSAGES} messages per operation, the median of {ROUNDS} rounds (each in a fresh vhost), CPU per "
        f"message; publishes {BATCH} at a time with their confirms awaited together (`event_publisher.publish_all`), "
        "deliveries through the shared `BatchConsumer` (decoded, batched, one `multiple` ack per batch) with "
        "nothing recorded.",
        "",
        "| operation | client CPU µs per message | RabbitMQ CPU µs per message |",
        "|---|---|---|",
        *(f"| {name} | {c:.0f} | {s:.1f} |" for name, (c, s) in rows.items()),
        "",
        "One message that becomes an issue makes three publishes and four deliveries. As lone events they cost "
        f"**{alone[0]:.2f} ms** of CPU in the services' AMQP client code and **{alone[1]:.2f} ms** in RabbitMQ "
        f"(on two cores that alone allows at most {2000 / sum(alone):.0f} messages/s end to end); in full "
        f"batches, as under a burst, **{batched[0]:.2f} ms** and **{batched[1]:.2f} ms** (at most "
        f"{2000 / sum(batched):.0f}/s), most of it the `issue.created` publish, which other systems follow one "
        "event per issue. The client cost is aiormq's own (pamqp marshalling each frame, an asyncio queue per "
        "frame, a task per delivery), not faststream's or ours: the services publish and consume below "
        "faststream already.",
    ]
    body = "\n".join(lines)
    write_section("amqp", "The bus's share of a message", "make bench BENCH=amqp", body)
    print(body)


if __name__ == "__main__":
    asyncio.run(main())
