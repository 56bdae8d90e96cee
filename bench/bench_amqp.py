"""The bus's share of a message (issue 13): what one confirmed publish and one delivery cost, client and RabbitMQ.

Every message that becomes an issue crosses RabbitMQ seven times (DESIGN §2): three confirmed
publishes (`message.fetched`, routed to the ingestor's and the email log's queues; `message.processed`,
routed to the fetcher's and the email log's; `issue.created`, routed nowhere unless someone binds a
queue) and four deliveries, each acked after its batch. This measures those operations alone, with
the services' own code and nothing else: `bus.publish_each` in batches of 100 (as the fetcher and the
ingestor publish) and the shared `BatchConsumer` with a record that does nothing (as config-api and
the fetcher consume), on the quorum queues `bus.declare_topology` declares, in a fresh vhost.
CPU is this process's (`time.process_time`) and RabbitMQ's (`beam.smp`, from /proc), per operation.
The sum over one message's seven operations is the floor any change to the services' own code leaves.
Run: `make bench BENCH=amqp`; BENCH_AMQP_MESSAGES (5000) changes N.
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
from intake.shared import bus, topology
from intake.shared.batch_consumer import BatchConsumer
from intake.shared.contracts import Contract, IssueEvent, IssueEventKind, MessageFetched, MessageProcessed, Outcome

MESSAGES = int(os.environ.get("BENCH_AMQP_MESSAGES", "5000"))
BATCH = 100
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
        await bus.publish_all(broker, events, [f"bench-{uid:08x}" for uid in range(start, start + len(events))])


async def consume(broker: RabbitBroker, queue: str, routing_key: str, contract: type[Contract]) -> None:
    """Consume MESSAGES deliveries of `queue` as config-api and the fetcher do (decoded, batched, acked)."""
    done = asyncio.Event()
    seen = 0

    async def record(events: Sequence[Contract]) -> None:
        nonlocal seen
        seen += len(events)
        if seen >= MESSAGES:
            done.set()

    consumer: BatchConsumer[Contract] = BatchConsumer(
        topology.work_queue(queue, routing_key, DELIVERY_LIMIT),
        lambda body: [contract.model_validate_json(body)],
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
                lambda: consume(broker, topology.INGESTOR_QUEUE, topology.MESSAGE_FETCHED, MessageFetched)
            ),
            "delivery + ack, message.processed": await measure(
                lambda: consume(broker, topology.FETCHER_PROCESSED_QUEUE, topology.MESSAGE_PROCESSED, MessageProcessed)
            ),
        }
    finally:
        await broker.stop()


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
    # One message that becomes an issue: the three publishes, and four deliveries (two of each event).
    per_message = [
        rows["publish message.fetched (2 queues)"],
        rows["publish message.processed (2 queues)"],
        rows["publish issue.created (no queue)"],
        rows["delivery + ack, message.fetched"],
        rows["delivery + ack, message.fetched"],
        rows["delivery + ack, message.processed"],
        rows["delivery + ack, message.processed"],
    ]
    client = sum(c for c, _ in per_message) / 1000
    server = sum(s for _, s in per_message) / 1000
    lines = [
        f"{MESSAGES} messages per operation, the median of {ROUNDS} rounds (each in a fresh vhost); publishes in "
        f"batches of {BATCH} with their confirms awaited together (`bus.publish_all`), deliveries through the "
        "shared `BatchConsumer` (decoded, batched, one `multiple` ack per batch) with nothing recorded.",
        "",
        "| operation | client CPU µs | RabbitMQ CPU µs |",
        "|---|---|---|",
        *(f"| {name} | {c:.0f} | {s:.0f} |" for name, (c, s) in rows.items()),
        "",
        f"One message that becomes an issue makes three publishes and four deliveries: **{client:.2f} ms** of "
        f"CPU in the services' AMQP client code and **{server:.2f} ms** in RabbitMQ, {client + server:.2f} ms in "
        "all, whatever the services do besides. On two cores that alone allows at most "
        f"{2000 / (client + server):.0f} messages/s end to end. The client cost is aiormq's own (pamqp marshalling "
        "each frame, an asyncio queue per frame, a task per delivery), not faststream's or ours: the services "
        "publish and consume below faststream already.",
    ]
    body = "\n".join(lines)
    write_section("amqp", "The bus's share of a message", "make bench BENCH=amqp", body)
    print(body)


if __name__ == "__main__":
    asyncio.run(main())
