"""Helpers for driving the real fetcher against Dovecot, PostgreSQL and RabbitMQ in one test.

The test owns its database and vhost (tests/conftest.py); it creates the config schema as config-api
would, inserts inboxes directly, runs `FetcherApp` as a task, and watches the bus from its own queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import asyncpg
import pytest

from intake.fetcher.app import FetcherApp
from intake.fetcher.settings import FetcherSettings
from intake.shared import batched_events, topology
from intake.shared.contracts import InboxStatus, MessageFetched, MessageProcessed, Outcome
from intake.shared.migrations import migrate
from intake.shared.secrets import SecretBox
from tests.support.access_tokens import AccessTokenEndpoint
from tests.support.dovecot import Dovecot, Mailbox

T = TypeVar("T")
DEADLINE_SECONDS = 30.0


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, seconds: float = DEADLINE_SECONDS) -> T:
    """Poll `check` until it returns something other than None/False, or fail naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def message(subject: str, message_id: str | None = None) -> bytes:
    mid = message_id or f"<{subject.replace(' ', '-')}-{time.monotonic_ns()}@example.com>"
    return (
        f"From: Customer <customer@example.com>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: {mid}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nHello, {subject}.\r\n"
    ).encode()


@pytest.fixture
async def config_db(db: asyncpg.Connection) -> asyncpg.Connection:
    """The test database with config-api's schema, as if config-api had started."""
    await migrate(db, "intake.config_api", "config")
    return db


InboxFactory = Callable[..., Awaitable[int]]


@pytest.fixture
def make_inbox(config_db: asyncpg.Connection, dovecot: Dovecot, secret_key: str) -> InboxFactory:
    async def create(mailbox: Mailbox, **overrides: Any) -> int:
        values: dict[str, Any] = {
            "provider": "custom",
            "email": f"{mailbox.username}@example.com",
            "username": mailbox.username,
            "password_encrypted": SecretBox(secret_key).encrypt(mailbox.password),
            "hostname": mailbox.host,
            "port": mailbox.port,
            "encryption": "none",
            "poll_interval_seconds": 1,
            "first_fetch": "all",
        }
        values.update(overrides)
        columns = ", ".join(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
        inbox_id: int = await config_db.fetchval(
            f"INSERT INTO config.inboxes ({columns}) VALUES ({placeholders}) RETURNING id", *values.values()
        )
        return inbox_id

    return create


SERVICE_TOKEN = "fetcher-service-token-for-tests"


@pytest.fixture
def access_tokens() -> Iterator[AccessTokenEndpoint]:
    """config-api's internal access-token endpoint as the test serves it (answers set per inbox)."""
    endpoint = AccessTokenEndpoint(SERVICE_TOKEN)
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def fetcher_settings(database_url: str, amqp_url: str, secret_key: str) -> FetcherSettings:
    return FetcherSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=secret_key,
        fetcher_inbox_refresh_seconds=0.2,
        fetcher_imap_timeout_seconds=10,
        fetcher_max_backoff_seconds=2,
    )


@contextlib.asynccontextmanager
async def running(settings: FetcherSettings) -> AsyncIterator[FetcherApp]:
    """The fetcher running as a task, exactly as `__main__` runs it; stopped (as by SIGTERM) on exit."""
    app = FetcherApp(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop))
    try:
        await eventually(lambda: _started(app, task), "the fetcher to start")
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE_SECONDS)


async def _started(app: FetcherApp, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # raise what made it stop
    return app._supervisor_task is not None


class Bus:
    """The test's own view of the bus: queues bound to `message.fetched` and `inbox.status`, and a way
    to send outcomes."""

    def __init__(
        self,
        channel: aio_pika.abc.AbstractChannel,
        queue: aio_pika.abc.AbstractQueue,
        status_queue: aio_pika.abc.AbstractQueue,
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.status_queue = status_queue
        self.statuses: list[InboxStatus] = []
        self._matched = 0  # statuses before this index were passed by an earlier next_status
        self._fetched: deque[MessageFetched] = deque()  # the rest of the last batch next_fetched took

    async def next_status(
        self, match: Callable[[InboxStatus], bool], what: str, seconds: float = DEADLINE_SECONDS
    ) -> InboxStatus:
        """The first `inbox.status` event after the one the previous call returned that `match`es."""

        async def get() -> InboxStatus | None:
            while incoming := await self.status_queue.get(fail=False, no_ack=True):
                self.statuses.append(InboxStatus.model_validate_json(incoming.body))
            for index in range(self._matched, len(self.statuses)):
                if match(self.statuses[index]):
                    self._matched = index + 1
                    return self.statuses[index]
            return None

        return await eventually(get, what, seconds)

    async def next_fetched(self, seconds: float = DEADLINE_SECONDS) -> MessageFetched:
        """The next fetched message, in publish order (a `FetchedBatch` gives its messages one per call)."""

        async def get() -> MessageFetched | None:
            if not self._fetched:
                incoming = await self.queue.get(fail=False, no_ack=True)
                if incoming is None:
                    return None
                self._fetched.extend(event for event, _ in batched_events.fetched(incoming.body, None))
            return self._fetched.popleft()

        return await eventually(get, "a message.fetched event", seconds)

    async def pending_fetched(self) -> int:
        """Fetched messages published and not yet taken: whole deliveries in the queue count as one each,
        so 0 is exact and any other number a lower bound."""
        return await self.queue_depth(self.queue.name) + len(self._fetched)

    async def queue_depth(self, name: str) -> int:
        """Messages ready in queue `name` (unacked deliveries are not counted)."""
        declared = await self.channel.declare_queue(name, passive=True)
        return int(declared.declaration_result.message_count or 0)

    async def send_processed(self, event: MessageFetched, outcome: Outcome = Outcome.ISSUE_CREATED) -> None:
        processed = MessageProcessed(
            inbox_id=event.inbox_id,
            uidvalidity=event.uidvalidity,
            uid=event.uid,
            raw_sha256=event.raw_sha256,
            message_id=event.message_id,
            outcome=outcome,
            reason="test",
            issue_number=1 if outcome.stored_on_issue else None,
            attempts=1,
            processed_at=datetime.now(UTC),
        )
        exchange = await self.channel.get_exchange(topology.EXCHANGE_NAME)
        await exchange.publish(
            aio_pika.Message(processed.model_dump_json().encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=topology.MESSAGE_PROCESSED,
            mandatory=True,
        )


@pytest.fixture
async def bus(amqp_url: str) -> AsyncIterator[Bus]:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(topology.EXCHANGE_NAME, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("test.message-fetched", durable=False, exclusive=True)
        await queue.bind(exchange, routing_key=topology.MESSAGE_FETCHED)
        status_queue = await channel.declare_queue("test.inbox-status", durable=False, exclusive=True)
        await status_queue.bind(exchange, routing_key=topology.INBOX_STATUS)
        yield Bus(channel, queue, status_queue)
    finally:
        await connection.close()
