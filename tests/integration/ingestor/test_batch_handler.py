"""batch_handler.BatchingHandler on real PostgreSQL and RabbitMQ: messages queued before the ingestor starts
arrive together and are stored in batches; what a batch cannot take goes one by one, and every
guarantee of the one-message path holds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from intake.ingestor.app import IngestorApp, apply_migrations
from intake.ingestor.ingest import Ingestor
from intake.ingestor.postgres_store import PostgresIssueStore
from intake.shared import batched_events, bus, topology
from intake.shared.batched_events import fetched_message
from intake.shared.blobs import blob_key
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from tests.integration.ingestor.conftest import FetcherSide, Mailroom, MakeInbox, refuse_poison, settings
from tests.integration.ingestor.test_app import dead_letters
from tests.support.mail import make_mail


@pytest.fixture
async def queued_bus(amqp_url: str) -> AsyncIterator[FetcherSide]:
    """The test's bus with the whole topology declared, so messages can wait in the ingestor's queue
    before the ingestor starts (then they arrive in one burst of prefetched deliveries)."""
    fetcher_side = FetcherSide(amqp_url)
    await fetcher_side.broker.start()
    await bus.declare_topology(fetcher_side.broker, delivery_limit=3)
    try:
        yield fetcher_side
    finally:
        await fetcher_side.broker.stop()


async def run_until_processed(
    database_url: str, amqp_url: str, fetcher_side: FetcherSide, fetched: list[MessageFetched], count: int
) -> dict[int, MessageProcessed]:
    """Queue `fetched`, start the ingestor, and collect `count` outcomes (the last one per UID)."""
    for item in fetched:
        await fetcher_side.publish(item)
    async with IngestorApp(settings(database_url, amqp_url, delivery_limit=3, prefetch=64)):
        arrivals = [await fetcher_side.next_processed() for _ in range(count)]
    return {p.uid: p for p in arrivals}


async def test_two_messages_of_one_new_thread_in_one_batch_end_on_one_issue_in_order(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox, queued_bus: FetcherSide
) -> None:
    inbox_id = await make_inbox()
    mailroom = Mailroom(db, queued_bus)
    first = await mailroom.fetched(inbox_id, make_mail("Question", "<q-1@x>"))
    others = [await mailroom.fetched(inbox_id, make_mail(f"other {i}", f"<o-{i}@x>")) for i in range(5)]
    reply = await mailroom.fetched(inbox_id, make_mail("Re: Question", "<q-2@x>", references=("<q-1@x>",)))

    outcomes = await run_until_processed(database_url, amqp_url, queued_bus, [first, *others, reply], 7)

    assert outcomes[first.uid].outcome is Outcome.ISSUE_CREATED
    assert outcomes[reply.uid].outcome is Outcome.ISSUE_UPDATED
    assert outcomes[reply.uid].issue_number == outcomes[first.uid].issue_number
    assert [outcomes[o.uid].outcome for o in others] == [Outcome.ISSUE_CREATED] * 5
    assert await db.fetchval("SELECT count(*) FROM tracker.issues") == 6
    messages = await db.fetch(
        "SELECT message_id FROM tracker.messages WHERE issue_number = $1 ORDER BY id",
        outcomes[first.uid].issue_number,
    )
    assert [m["message_id"] for m in messages] == ["<q-1@x>", "<q-2@x>"]
    assert all(p.attempts == 1 for p in outcomes.values())


async def test_a_batch_publishes_its_outcomes_in_one_delivery_each_with_its_correlation_id(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox, queued_bus: FetcherSide
) -> None:
    inbox_id = await make_inbox()
    mailroom = Mailroom(db, queued_bus)
    fetched = [await mailroom.fetched(inbox_id, make_mail(f"Question {i}", f"<b-{i}@x>")) for i in range(8)]
    for position, item in enumerate(fetched):
        await queued_bus.publish(item, correlation=f"corr-{position}")

    async with IngestorApp(settings(database_url, amqp_url, delivery_limit=3, prefetch=64)):
        outcomes = [await queued_bus.next_processed() for _ in fetched]

    assert sorted(o.uid for o in outcomes) == sorted(f.uid for f in fetched)
    assert {o.outcome for o in outcomes} == {Outcome.ISSUE_CREATED}
    deliveries = queued_bus.processed_deliveries
    # Fewer deliveries than messages: a batch's outcomes travel together (a ProcessedBatch).
    assert len(deliveries) < len(fetched)
    assert max(map(len, deliveries)) > 1
    assert sorted(c or "" for delivery in deliveries for c in delivery) == sorted(f"corr-{i}" for i in range(8))


async def test_a_duplicate_message_id_in_one_batch_is_stored_once(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox, queued_bus: FetcherSide
) -> None:
    inbox_id = await make_inbox()
    mailroom = Mailroom(db, queued_bus)
    raw = make_mail("Copied", "<copy@x>")
    original = await mailroom.fetched(inbox_id, raw, uid=10)
    copy = await mailroom.fetched(inbox_id, raw, uid=11)
    other = await mailroom.fetched(inbox_id, make_mail("Another", "<another@x>"), uid=12)

    outcomes = await run_until_processed(database_url, amqp_url, queued_bus, [original, copy, other], 3)

    assert outcomes[10].outcome is Outcome.ISSUE_CREATED
    assert outcomes[11].outcome is Outcome.DUPLICATE
    assert outcomes[11].issue_number == outcomes[10].issue_number
    assert outcomes[12].outcome is Outcome.ISSUE_CREATED
    assert await db.fetchval("SELECT count(*) FROM tracker.messages WHERE message_id = '<copy@x>'") == 1


async def test_a_poison_message_fails_alone_and_its_batch_is_filed(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox, queued_bus: FetcherSide
) -> None:
    """The poison fails its batch's transaction; the batch goes one by one: the others are filed at their
    first attempt, the poison is retried on its own and dead-lettered as `failed` after the limit."""
    inbox_id = await make_inbox()
    await apply_migrations(db)
    await refuse_poison(db)
    mailroom = Mailroom(db, queued_bus)
    good = [await mailroom.fetched(inbox_id, make_mail(f"fine {i}", f"<fine-{i}@x>")) for i in range(5)]
    poison = await mailroom.fetched(inbox_id, make_mail("poison", "<poison@x>"))
    more = [await mailroom.fetched(inbox_id, make_mail(f"also fine {i}", f"<also-{i}@x>")) for i in range(5)]

    outcomes = await run_until_processed(database_url, amqp_url, queued_bus, [*good, poison, *more], 11)

    assert [(outcomes[f.uid].outcome, outcomes[f.uid].attempts) for f in [*good, *more]] == [
        (Outcome.ISSUE_CREATED, 1)
    ] * 10
    assert (outcomes[poison.uid].outcome, outcomes[poison.uid].attempts) == (Outcome.FAILED, 4)
    [dead] = await dead_letters(amqp_url)
    assert f'"uid":{poison.uid}'.encode() in dead.body


async def test_a_failing_batch_transaction_falls_back_to_one_by_one_without_using_up_attempts(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox, queued_bus: FetcherSide
) -> None:
    """A failure only a batch meets (here: a statement storing more than one message) costs no delivery."""
    inbox_id = await make_inbox()
    await apply_migrations(db)
    await db.execute(
        """CREATE FUNCTION public.one_at_a_time() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF (SELECT count(*) FROM new_rows) > 1 THEN RAISE EXCEPTION 'one message at a time'; END IF;
               RETURN NULL;
           END $$;
           CREATE TRIGGER one_at_a_time AFTER INSERT ON tracker.messages
               REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.one_at_a_time();"""
    )
    mailroom = Mailroom(db, queued_bus)
    fetched = [await mailroom.fetched(inbox_id, make_mail(f"mail {i}", f"<mail-{i}@x>")) for i in range(8)]

    outcomes = await run_until_processed(database_url, amqp_url, queued_bus, fetched, 8)

    assert {(p.outcome, p.attempts) for p in outcomes.values()} == {(Outcome.ISSUE_CREATED, 1)}
    assert await db.fetchval("SELECT count(*) FROM tracker.issues") == 8
    assert await dead_letters(amqp_url) == []


async def test_messages_with_attachments_are_stored_in_one_batch(
    database_url: str, db: asyncpg.Connection, make_inbox: MakeInbox
) -> None:
    """Attachments no longer send a message down the one-message path (issue 13): a batch of new
    issues and a reply, with attachments shared between messages, stores every attachment once per
    message, its bytes once in the blob store, and the same rows the one-message path writes."""
    inbox_id = await make_inbox()
    await apply_migrations(db)
    shared = b"%PDF-1.7 the same invoice in two messages \x00\xff"
    raws = [
        make_mail("Invoice", "<inv-1@x>", attachments=(("invoice.pdf", "application/pdf", shared),)),
        make_mail(
            "Screens",
            "<scr-1@x>",
            attachments=(("a.png", "image/png", b"\x89PNG one"), ("Übersicht März.csv", "text/csv", b"a,b\n1,2\n")),
        ),
        make_mail("Plain", "<plain-1@x>"),
        make_mail(
            "Re: Earlier",
            "<re-1@x>",
            references=("<earlier@x>",),
            attachments=(("invoice.pdf", "application/pdf", shared),),
        ),
    ]
    mailroom = Mailroom(db)
    earlier = await mailroom.fetched(inbox_id, make_mail("Earlier", "<earlier@x>"))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        ingestor = Ingestor(PostgresIssueStore(pool))
        await ingestor.process(earlier, 1)
        fetched = [await mailroom.fetched(inbox_id, raw) for raw in raws]
        outcome = await ingestor.process_batch([(item, 1) for item in fetched])
    finally:
        await pool.close()

    assert outcome.single == []
    assert outcome.deferred == []
    kinds = [outcome.results[position].processed.outcome for position in range(4)]
    assert kinds == [Outcome.ISSUE_CREATED, Outcome.ISSUE_CREATED, Outcome.ISSUE_CREATED, Outcome.ISSUE_UPDATED]
    rows = await db.fetch(
        """SELECT m.uid, a.filename, a.content_type, a.size, a.sha256, b.content FROM tracker.attachments a
           JOIN tracker.messages m ON m.id = a.message_row_id JOIN blobs.blobs b ON b.sha256 = a.sha256
           ORDER BY a.id"""
    )
    assert [(r["uid"], r["filename"], r["size"], bytes(r["content"])) for r in rows] == [
        (fetched[0].uid, "invoice.pdf", len(shared), shared),
        (fetched[1].uid, "a.png", 8, b"\x89PNG one"),
        (fetched[1].uid, "Übersicht März.csv", 8, b"a,b\n1,2\n"),
        (fetched[3].uid, "invoice.pdf", len(shared), shared),
    ]
    assert all(r["sha256"] == blob_key(bytes(r["content"])) for r in rows)
    assert await db.fetchval("SELECT count(*) FROM blobs.blobs WHERE sha256 = $1", blob_key(shared)) == 1


async def test_a_fetched_batch_is_filed_message_by_message_and_a_poison_in_it_dead_letters_it_whole(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox, queued_bus: FetcherSide
) -> None:
    """The fetcher publishes one FETCH's messages as one `FetchedBatch`. Each is filed on its own path (a
    reply to another of the batch, an attachment, a duplicate); a poison among them requeues the whole
    delivery until its last attempt, when its `failed` is published and the delivery dead-lettered
    whole. The others are filed once, and re-emit their stored outcome at every redelivery."""
    inbox_id = await make_inbox()
    await apply_migrations(db)
    await refuse_poison(db)
    mailroom = Mailroom(db, queued_bus)
    question = await mailroom.fetched(inbox_id, make_mail("Question", "<fq-1@x>"))
    reply = await mailroom.fetched(inbox_id, make_mail("Re: Question", "<fq-2@x>", references=("<fq-1@x>",)))
    attached = await mailroom.fetched(
        inbox_id, make_mail("Invoice", "<fq-3@x>", attachments=(("invoice.csv", "text/csv", b"a,b\n1,2\n"),))
    )
    copy = await mailroom.fetched(inbox_id, make_mail("Question", "<fq-1@x>"))
    poison = await mailroom.fetched(inbox_id, make_mail("poison", "<fq-poison@x>"))
    batch = [question, reply, attached, copy, poison]
    event, _ = fetched_message([(item, f"corr-{item.uid}") for item in batch])
    await bus.publish(queued_bus.broker, event, topology.MESSAGE_FETCHED)

    last: dict[int, MessageProcessed] = {}
    async with IngestorApp(settings(database_url, amqp_url, delivery_limit=3, prefetch=64)):
        while last.get(poison.uid) is None:
            outcome = await queued_bus.next_processed()
            last[outcome.uid] = outcome

    # The poison fails the first batch's transaction, so its messages go one by one, concurrently: either
    # of the thread's two may come first, and both end on one issue.
    assert {last[question.uid].outcome, last[reply.uid].outcome} == {Outcome.ISSUE_CREATED, Outcome.ISSUE_UPDATED}
    assert last[reply.uid].issue_number == last[question.uid].issue_number
    assert last[attached.uid].outcome is Outcome.ISSUE_CREATED
    assert last[copy.uid].outcome is Outcome.DUPLICATE
    assert (last[poison.uid].outcome, last[poison.uid].attempts) == (Outcome.FAILED, 4)
    assert await db.fetchval("SELECT count(*) FROM tracker.issues") == 2
    assert await db.fetchval("SELECT count(*) FROM tracker.messages") == 3
    [dead] = await dead_letters(amqp_url)
    assert sorted(e.uid for e, _ in batched_events.fetched(dead.body, None)) == sorted(item.uid for item in batch)
