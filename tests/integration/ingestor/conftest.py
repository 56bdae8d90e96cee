"""Helpers for driving the ingestor on real PostgreSQL and RabbitMQ: inboxes, mail, and the bus as the fetcher sees it.

`FetcherSide` publishes `message.fetched` with `bus.publish`, as the fetcher does, and collects every
`message.processed` from a queue the test binds. The ingestor runs as `IngestorApp`, the object
`intake-ingestor` runs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from faststream.rabbit import RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from intake.ingestor.app import IngestorApp
from intake.ingestor.settings import IngestorSettings
from intake.shared import batched_events, bus, topology
from intake.shared.blobs import put_blob
from intake.shared.contracts import IssueEvent, MessageFetched, MessageProcessed
from intake.shared.migrations import migrate, migrate_blobs

# A deadline for waiting on RabbitMQ and the ingestor, not a speed expectation.
WAIT_SECONDS = 60.0
UIDVALIDITY = 1000


def settings(
    database_url: str, amqp_url: str, *, delivery_limit: int = 5, prefetch: int = 16, **more: Any
) -> IngestorSettings:
    return IngestorSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        delivery_limit=delivery_limit,
        ingestor_prefetch=prefetch,
        **more,
    )


async def refuse_poison(
    db: asyncpg.Connection, word: str = "poison", error: str = "poison refused for the test"
) -> None:
    """Make every insert of a message whose subject contains `word` (letters only) fail with `error`, as a
    message that can never be stored does (`tracker` must exist)."""
    assert word.isalpha()
    assert "'" not in error
    await db.execute(
        f"""CREATE FUNCTION public.refuse_{word}() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF NEW.subject LIKE '%{word}%' THEN RAISE EXCEPTION '{error}'; END IF;
               RETURN NEW;
           END $$;
           CREATE TRIGGER refuse_{word} BEFORE INSERT ON tracker.messages
               FOR EACH ROW EXECUTE FUNCTION public.refuse_{word}();"""
    )


class FetcherSide:
    """The bus from the fetcher's side: publishes `message.fetched`, collects `message.processed`, and
    collects issue events from a queue bound to `issue.*`, as another system following issues would."""

    def __init__(self, amqp_url: str) -> None:
        self.broker = bus.create_broker(amqp_url, app_id="ingestor-tests")
        self.processed: asyncio.Queue[MessageProcessed] = asyncio.Queue()
        # Per `message.processed` delivery: the correlation id of each outcome it carried.
        self.processed_deliveries: list[list[str | None]] = []
        self.events: asyncio.Queue[tuple[str, IssueEvent]] = asyncio.Queue()
        queue = RabbitQueue("tests.message-processed", routing_key=topology.MESSAGE_PROCESSED, durable=False)
        events = RabbitQueue("tests.issue-events", routing_key="issue.*", durable=False)

        @self.broker.subscriber(queue, topology.EXCHANGE)
        async def collect(message: RabbitMessage) -> None:
            outcomes = batched_events.processed(message.body, bus.correlation_id(message.headers))
            self.processed_deliveries.append([correlation for _, correlation in outcomes])
            for outcome, _ in outcomes:
                await self.processed.put(outcome)

        @self.broker.subscriber(events, topology.EXCHANGE)
        async def follow(message: RabbitMessage) -> None:
            await self.events.put((message.raw_message.routing_key or "", IssueEvent.model_validate_json(message.body)))

    async def publish(self, fetched: MessageFetched, correlation: str | None = None) -> None:
        await bus.publish(self.broker, fetched, topology.MESSAGE_FETCHED, correlation=correlation)

    async def next_processed(self) -> MessageProcessed:
        return await asyncio.wait_for(self.processed.get(), WAIT_SECONDS)

    async def next_event(self) -> tuple[str, IssueEvent]:
        return await asyncio.wait_for(self.events.get(), WAIT_SECONDS)


class Mailroom:
    """Puts raw mail in the blob store and tells the ingestor about it, as the fetcher would (without
    `fetcher_side` it only stores the blobs: `fetched`, not `deliver`)."""

    def __init__(self, db: asyncpg.Connection, fetcher_side: FetcherSide | None = None) -> None:
        self._db = db
        self._bus = fetcher_side
        self._uids = itertools.count(1)

    async def fetched(
        self, inbox_id: int, raw: bytes, *, uid: int | None = None, rejected: str | None = None, replay: bool = False
    ) -> MessageFetched:
        key = await put_blob(self._db, raw)
        return MessageFetched(
            inbox_id=inbox_id,
            uidvalidity=UIDVALIDITY,
            uid=next(self._uids) if uid is None else uid,
            raw_sha256=key,
            size=len(raw),
            fetched_at=datetime.now(UTC),
            rejected=rejected,
            replay=replay,
        )

    async def deliver(
        self, inbox_id: int, raw: bytes, *, uid: int | None = None, rejected: str | None = None, replay: bool = False
    ) -> MessageProcessed:
        """Publish one message and wait for its `message.processed`."""
        assert self._bus is not None, "a Mailroom without a FetcherSide only stores blobs"
        fetched = await self.fetched(inbox_id, raw, uid=uid, rejected=rejected, replay=replay)
        await self._bus.publish(fetched)
        processed = await self._bus.next_processed()
        assert (processed.inbox_id, processed.uidvalidity, processed.uid) == (
            fetched.inbox_id,
            fetched.uidvalidity,
            fetched.uid,
        )
        return processed


MakeInbox = Callable[..., Awaitable[int]]


@pytest.fixture
async def make_inbox(db: asyncpg.Connection) -> MakeInbox:
    """Applies the config and blob migrations; returns a function that inserts an inbox and gives its id."""
    await migrate(db, "intake.config_api", "config")
    await migrate_blobs(db)

    async def create(
        unmatched_action: str = "create_issue",
        default_language: str | None = "en",
        *,
        ignored_senders: tuple[str, ...] = (),
        assigned_user_id: int | None = None,
        assigned_organisation_id: int | None = None,
    ) -> int:
        inbox_id: int = await db.fetchval(
            """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption, unmatched_action,
                                           default_language, issue_type_id, ignored_senders, assigned_user_id,
                                           assigned_organisation_id)
               VALUES ('custom', 'support@example.org', 'support', 'imap.example.org', 993, 'ssl', $1, $2,
                       (SELECT id FROM config.issue_types WHERE name = 'Support'), $3, $4, $5)
               RETURNING id""",
            unmatched_action,
            default_language,
            list(ignored_senders),
            assigned_user_id,
            assigned_organisation_id,
        )
        return inbox_id

    return create


@pytest.fixture
async def inbox_id(make_inbox: MakeInbox) -> int:
    return await make_inbox()


@pytest.fixture
async def ingestor(database_url: str, amqp_url: str, make_inbox: MakeInbox) -> AsyncIterator[IngestorApp]:
    async with IngestorApp(settings(database_url, amqp_url)) as app:
        yield app


@pytest.fixture
async def fetcher_side(amqp_url: str, ingestor: IngestorApp) -> AsyncIterator[FetcherSide]:
    """Started after the ingestor, so the `intake` exchange and the ingestor's queue exist."""
    fetcher_side = FetcherSide(amqp_url)
    await fetcher_side.broker.start()
    try:
        yield fetcher_side
    finally:
        await fetcher_side.broker.stop()


@pytest.fixture
def mailroom(db: asyncpg.Connection, fetcher_side: FetcherSide) -> Mailroom:
    return Mailroom(db, fetcher_side)
