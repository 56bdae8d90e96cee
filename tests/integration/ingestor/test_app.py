"""IngestorApp on real services: concurrent instances, retries to the dead-letter queue, clean stop."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aio_pika
import asyncpg

from intake.ingestor.app import IngestorApp
from intake.ingestor.threads import thread_lock_key
from intake.shared import topology
from intake.shared.contracts import Outcome
from tests.integration.ingestor.conftest import (
    WAIT_SECONDS,
    FetcherSide,
    Mailroom,
    MakeInbox,
    refuse_poison,
    settings,
)
from tests.support.mail import make_mail


async def eventually(probe: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `probe()` until it is true, failing after the deadline."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not await probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def dead_letters(amqp_url: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take everything currently in the dead-letter queue."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.DEAD_LETTER_QUEUE_NAME)
        taken = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            taken.append(message)
        return taken
    finally:
        await connection.close()


async def test_two_instances_file_five_threads_once(
    database_url: str,
    amqp_url: str,
    db: asyncpg.Connection,
    mailroom: Mailroom,
    fetcher_side: FetcherSide,
    inbox_id: int,
) -> None:
    threads = [[f"<thread-{t}-{m}@example.com>" for m in range(4)] for t in range(5)]
    mails = [
        make_mail(
            f"Thread {t}" if m == 0 else f"Re: Thread {t}",
            ids[m],
            references=tuple(ids[:m]),
        )
        for t, ids in enumerate(threads)
        for m in range(4)
    ]
    random.Random(7).shuffle(mails)
    fetched = [await mailroom.fetched(inbox_id, raw) for raw in mails]

    # `ingestor` (from the fixture) is the first instance; this is the second.
    async with IngestorApp(settings(database_url, amqp_url, prefetch=4)):
        await asyncio.gather(*(fetcher_side.publish(item) for item in fetched))
        results = [await fetcher_side.next_processed() for _ in fetched]

    assert Counter(r.outcome for r in results) == {Outcome.ISSUE_CREATED: 5, Outcome.ISSUE_UPDATED: 15}
    assert await db.fetchval("SELECT count(*) FROM tracker.issue_view") == 5
    assert await db.fetchval("SELECT count(*) FROM tracker.message_view") == 20
    for ids in threads:
        issues = await db.fetchval(
            "SELECT count(DISTINCT issue_number) FROM tracker.message_view WHERE message_id = ANY($1)", ids
        )
        assert issues == 1


async def test_invalid_payload_is_dead_lettered(
    amqp_url: str, fetcher_side: FetcherSide, ingestor: IngestorApp
) -> None:
    await fetcher_side.broker.publish(
        b'{"not": "a MessageFetched"}',
        exchange=topology.EXCHANGE,
        routing_key=topology.MESSAGE_FETCHED,
        persist=True,
    )

    taken: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def arrived() -> bool:
        taken.extend(await dead_letters(amqp_url))
        return bool(taken)

    await eventually(arrived, "the invalid payload in the dead-letter queue")
    assert taken[0].body == b'{"not": "a MessageFetched"}'
    assert fetcher_side.processed.empty()


async def test_failing_storage_is_retried_then_failed_and_dead_lettered(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox()
    async with IngestorApp(settings(database_url, amqp_url, delivery_limit=2)):
        # A real failure inside the transaction: PostgreSQL refuses this one message every time.
        await refuse_poison(db, "explode", "storage refused for the test")
        fetcher_side = FetcherSide(amqp_url)
        await fetcher_side.broker.start()
        try:
            mailroom = Mailroom(db, fetcher_side)
            failed = await mailroom.deliver(inbox_id, make_mail("please explode", "<x-1@example.com>"))
            fine = await mailroom.deliver(inbox_id, make_mail("all good", "<x-2@example.com>"))
        finally:
            await fetcher_side.broker.stop()

    assert failed.outcome is Outcome.FAILED
    assert failed.attempts == 3
    assert "storage refused for the test" in failed.reason
    assert fine.outcome is Outcome.ISSUE_CREATED
    # A failure is not an outcome to re-emit: replaying it from the dead-letter queue processes it again.
    assert await db.fetchval("SELECT count(*) FROM tracker.outcomes WHERE uid = $1", failed.uid) == 0
    [dead] = await dead_letters(amqp_url)
    assert b"x-1@example.com" not in dead.body  # the bus carries the reference, not the mail
    assert f'"uid":{failed.uid}'.encode() in dead.body


async def test_stop_finishes_the_message_in_flight(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox()
    raw = make_mail("In flight", "<inflight@example.com>")
    app = IngestorApp(settings(database_url, amqp_url))
    await app.start()
    fetcher_side = FetcherSide(amqp_url)
    await fetcher_side.broker.start()
    try:
        fetched = await Mailroom(db, fetcher_side).fetched(inbox_id, raw)
        # Hold the thread's lock so the ingestor is mid-message when asked to stop.
        blocker = await asyncpg.connect(database_url)
        try:
            await blocker.execute("BEGIN")
            key = thread_lock_key(inbox_id, "<inflight@example.com>", fetched.raw_sha256)
            await blocker.execute("SELECT pg_advisory_xact_lock($1)", key)
            await fetcher_side.publish(fetched)

            async def ingestor_waits() -> bool:
                return bool(
                    await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                )

            await eventually(ingestor_waits, "the ingestor to wait for the thread lock")
            stopping = asyncio.create_task(app.stop())
            await asyncio.sleep(0)
            assert not stopping.done()
            await blocker.execute("COMMIT")
        finally:
            await blocker.close()
        await asyncio.wait_for(stopping, WAIT_SECONDS)
        processed = await fetcher_side.next_processed()
    finally:
        await fetcher_side.broker.stop()

    assert processed.outcome is Outcome.ISSUE_CREATED
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.INGESTOR_QUEUE)
        # Acked before the stop completed: nothing is left to redeliver.
        assert await queue.get(fail=False) is None
    finally:
        await connection.close()


async def test_poison_message_does_not_block_the_queue(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox
) -> None:
    """A message that fails every time holds one of the prefetched slots while it backs off; the others
    flow past it, and it ends dead-lettered as `failed` after the delivery limit."""
    inbox_id = await make_inbox()
    async with IngestorApp(settings(database_url, amqp_url, delivery_limit=3, prefetch=2)):
        await refuse_poison(db)
        fetcher_side = FetcherSide(amqp_url)
        await fetcher_side.broker.start()
        try:
            mailroom = Mailroom(db, fetcher_side)
            poison = await mailroom.fetched(inbox_id, make_mail("poison", "<poison@x>"))
            good = [await mailroom.fetched(inbox_id, make_mail(f"fine {i}", f"<fine-{i}@x>")) for i in range(10)]
            await fetcher_side.publish(poison)
            for item in good:
                await fetcher_side.publish(item)
            arrivals = [await fetcher_side.next_processed() for _ in range(11)]
        finally:
            await fetcher_side.broker.stop()

    # Every good message was filed while the poison was still being retried.
    assert [p.outcome for p in arrivals[:10]] == [Outcome.ISSUE_CREATED] * 10
    assert (arrivals[10].uid, arrivals[10].outcome, arrivals[10].attempts) == (poison.uid, Outcome.FAILED, 4)
    [dead] = await dead_letters(amqp_url)
    assert f'"uid":{poison.uid}'.encode() in dead.body
