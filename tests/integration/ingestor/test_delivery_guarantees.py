"""`intake-ingestor` as real processes under stress: several at once on one thread, and PostgreSQL going away.

DESIGN §2: nothing lost, nothing twice. Each test checks the end state (outcomes, issues, messages,
the dead-letter queue), never how fast it got there.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from intake.shared.dead_letters import replay_dead_letters
from tests.integration.ingestor.conftest import FetcherSide, Mailroom, MakeInbox
from tests.integration.ingestor.test_app import eventually
from tests.integration.ingestor.test_dead_letters import dead_letter_count
from tests.support.mail import make_mail
from tests.support.processes import ServiceProcess, make_env, wait_until
from tests.support.tcp_proxy import TcpProxy

# A deadline for the whole run on a busy machine, not a speed expectation.
RUN_SECONDS = 300.0


def ingestor_process(tmp_path: Path, name: str, **env: str) -> ServiceProcess:
    # Debug: each process logs "message processed" per message, which shows both did work.
    return ServiceProcess("ingestor", make_env(log_level="debug", **env), tmp_path / f"{name}.log")


async def started(*processes: ServiceProcess) -> None:
    for process in processes:
        await asyncio.to_thread(
            wait_until,
            lambda p=process: p.started_count() > 0,
            timeout=60,
            what="the ingestor to start",
            explain=process.log,
        )


@pytest.fixture
async def fetcher_side(amqp_url: str) -> AsyncIterator[FetcherSide]:
    """The bus without an in-process ingestor: the processes under test are the only consumers."""
    fetcher_side = FetcherSide(amqp_url)
    yield fetcher_side
    await fetcher_side.broker.stop()


async def collect(fetcher_side: FetcherSide, count: int, processes: Iterable[ServiceProcess]) -> list[MessageProcessed]:
    """`count` outcomes, failing at the deadline or as soon as a process dies."""
    received: list[MessageProcessed] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RUN_SECONDS
    while len(received) < count:
        for process in processes:
            assert process.running, f"an ingestor died:\n{process.log()[-4000:]}"
        assert loop.time() < deadline, f"{len(received)} of {count} outcomes after {RUN_SECONDS:.0f}s"
        try:
            received.append(await asyncio.wait_for(fetcher_side.processed.get(), 2.0))
        except TimeoutError:
            continue
    return received


def thread_mails(threads: int, per_thread: int) -> list[bytes]:
    """`threads` conversations of `per_thread` messages each, every reply naming all before it, shuffled."""
    mails = []
    for t in range(threads):
        ids = [f"<t{t}-m{m}@customer.example>" for m in range(per_thread)]
        for m in range(per_thread):
            subject = f"Thread {t}" if m == 0 else f"Re: Thread {t}"
            mails.append(make_mail(subject, ids[m], references=tuple(ids[:m])))
    random.Random(42).shuffle(mails)
    return mails


async def test_two_processes_file_200_messages_of_50_threads_once(
    database_url: str,
    amqp_url: str,
    db: asyncpg.Connection,
    make_inbox: MakeInbox,
    fetcher_side: FetcherSide,
    tmp_path: Path,
) -> None:
    inbox_id = await make_inbox()
    env = {"database_url": database_url, "amqp_url": amqp_url}
    first, second = ingestor_process(tmp_path, "first", **env), ingestor_process(tmp_path, "second", **env)
    first.start()
    second.start()
    try:
        await started(first, second)
        await fetcher_side.broker.start()
        mailroom = Mailroom(db, fetcher_side)
        fetched = [await mailroom.fetched(inbox_id, raw) for raw in thread_mails(50, 4)]

        await asyncio.gather(*(fetcher_side.publish(item) for item in fetched))
        results = await collect(fetcher_side, 200, (first, second))

        # The same deliveries again (a fetcher republishing after a crash) and the same mail under new
        # UIDs (a re-fetch after a UIDVALIDITY change), all at once.
        again = random.Random(7).sample(fetched, 50)
        refetched = [
            item.model_copy(update={"uid": item.uid + 10_000}) for item in random.Random(8).sample(fetched, 50)
        ]
        await asyncio.gather(*(fetcher_side.publish(item) for item in [*again, *refetched]))
        repeats = await collect(fetcher_side, 100, (first, second))
    finally:
        statuses = first.stop(), second.stop()
    assert statuses == (0, 0), first.log()[-3000:] + second.log()[-3000:]

    assert Counter(r.outcome for r in results) == {Outcome.ISSUE_CREATED: 50, Outcome.ISSUE_UPDATED: 150}
    assert await db.fetchval("SELECT count(*) FROM tracker.issues") == 50
    assert await db.fetchval("SELECT count(*) FROM tracker.messages") == 200
    assert await db.fetchval("SELECT count(DISTINCT message_id) FROM tracker.messages") == 200
    per_thread = await db.fetch(
        """SELECT split_part(message_id, '-', 1) AS thread, count(DISTINCT issue_number) AS issues
           FROM tracker.messages GROUP BY 1"""
    )
    assert len(per_thread) == 50
    assert {row["issues"] for row in per_thread} == {1}
    # Both processes took part.
    assert all(p.log().count('"message processed"') > 0 for p in (first, second))

    first_outcome = {r.uid: r for r in results}
    by_uid = {r.uid: r for r in repeats}
    for item in again:
        assert by_uid[item.uid] == first_outcome[item.uid]
    for item in refetched:
        repeat = by_uid[item.uid]
        assert repeat.outcome is Outcome.DUPLICATE
        assert repeat.issue_number == first_outcome[item.uid - 10_000].issue_number
    assert await db.fetchval("SELECT count(*) FROM tracker.messages") == 200
    assert await dead_letter_count(amqp_url) == 0


def through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def test_postgresql_gone_for_20_seconds_mid_run_loses_nothing(
    database_url: str,
    amqp_url: str,
    db: asyncpg.Connection,
    make_inbox: MakeInbox,
    fetcher_side: FetcherSide,
    tmp_path: Path,
) -> None:
    """PostgreSQL stopped for 20 seconds in the middle of a run: everything is processed once it is back.

    The outage is made with a loopback TCP proxy (tests/support/tcp_proxy.py) between the ingestor
    process and PostgreSQL, never by stopping the machine's PostgreSQL (others use it): `cut()` drops
    every connection and refuses new ones for 20 s, then `restore()` listens again.

    The delivery limit is 2, so requeueing with backoff would give up after 1 + 2 = 3 s and
    dead-letter everything in flight as `failed`: the ingestor must hold its deliveries and wait for
    the database instead. Messages arrive before, during and after the outage.
    """
    inbox_id = await make_inbox()
    target = urlsplit(database_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    ingestor = ingestor_process(
        tmp_path, "ingestor", database_url=through(proxy, database_url), amqp_url=amqp_url, delivery_limit="2"
    )
    ingestor.start()
    try:
        await started(ingestor)
        await fetcher_side.broker.start()
        mailroom = Mailroom(db, fetcher_side)
        batches: list[list[MessageFetched]] = [
            [await mailroom.fetched(inbox_id, make_mail(f"Batch {b} #{i}", f"<b{b}-{i}@x>")) for i in range(40)]
            for b in range(3)
        ]

        for item in batches[0]:
            await fetcher_side.publish(item)
        received = await collect(fetcher_side, 10, [ingestor])  # mid-run: some done, the rest in flight

        await proxy.cut()
        for item in batches[1]:
            await fetcher_side.publish(item)  # RabbitMQ takes them; the ingestor cannot store them yet
        await asyncio.sleep(20)  # the outage itself, not a wait for a condition
        await proxy.restore()

        for item in batches[2]:
            await fetcher_side.publish(item)
        received += await collect(fetcher_side, 120 - len(received), [ingestor])
        await asyncio.sleep(1.0)
        assert fetcher_side.processed.empty()  # exactly one outcome per message
    finally:
        # Off the event loop: the proxy runs on it, and the ingestor closes its pool through the proxy.
        status = await asyncio.to_thread(ingestor.stop)
        await proxy.stop()
    assert status == 0, ingestor.log()[-4000:]

    assert Counter(r.outcome for r in received) == {Outcome.ISSUE_CREATED: 120}, [
        r.reason for r in received if r.outcome is not Outcome.ISSUE_CREATED
    ]
    assert sorted(r.uid for r in received) == sorted(item.uid for batch in batches for item in batch)
    assert await db.fetchval("SELECT count(*) FROM tracker.issues") == 120
    assert await db.fetchval("SELECT count(*) FROM tracker.messages") == 120
    assert await dead_letter_count(amqp_url) == 0
    log = ingestor.log()
    assert "database unreachable, holding the messages in flight until it answers" in log
    assert "database reachable again" in log
    assert "processing failed, requeueing" not in log


async def test_outage_longer_than_every_wait_ends_in_the_dead_letter_queue_and_replays(
    database_url: str,
    amqp_url: str,
    db: asyncpg.Connection,
    make_inbox: MakeInbox,
    fetcher_side: FetcherSide,
    tmp_path: Path,
) -> None:
    """An outage longer than (delivery limit + 1) × INTAKE_INGESTOR_DATABASE_WAIT_SECONDS: nothing is lost.

    Made as above with the TCP proxy, scaled down: a wait of 2 s and a delivery limit of 1 stand for
    10 min and 5. Each message waits, is requeued, waits again, then ends `failed` in the dead-letter
    queue; once PostgreSQL is back, `make replay-dlq` (here its function) files every one of them.
    """
    inbox_id = await make_inbox()
    target = urlsplit(database_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    ingestor = ingestor_process(
        tmp_path,
        "ingestor",
        database_url=through(proxy, database_url),
        amqp_url=amqp_url,
        delivery_limit="1",
        ingestor_database_wait_seconds="2",
    )
    ingestor.start()
    try:
        await started(ingestor)
        await fetcher_side.broker.start()
        mailroom = Mailroom(db, fetcher_side)
        fetched = [await mailroom.fetched(inbox_id, make_mail(f"Long outage {i}", f"<long-{i}@x>")) for i in range(5)]

        await proxy.cut()
        for item in fetched:
            await fetcher_side.publish(item)
        failed = await collect(fetcher_side, 5, [ingestor])
        await proxy.restore()

        async def all_dead_lettered() -> bool:
            return await dead_letter_count(amqp_url) == 5

        await eventually(all_dead_lettered, "the five messages in the dead-letter queue")
        report = await replay_dead_letters(amqp_url)
        replayed = await collect(fetcher_side, 5, [ingestor])
    finally:
        status = await asyncio.to_thread(ingestor.stop)
        await proxy.stop()
    assert status == 0, ingestor.log()[-4000:]

    assert {(p.outcome, p.attempts) for p in failed} == {(Outcome.FAILED, 2)}
    assert all("DatabaseUnavailable" in p.reason for p in failed)
    assert dict(report.moved) == {"ingestor.message-fetched": 5}
    assert sorted(p.uid for p in replayed) == sorted(item.uid for item in fetched)
    assert {p.outcome for p in replayed} == {Outcome.ISSUE_CREATED}
    assert await db.fetchval("SELECT count(*) FROM tracker.issues") == 5
    assert await dead_letter_count(amqp_url) == 0
    assert "database still unreachable, giving the message back" in ingestor.log()
