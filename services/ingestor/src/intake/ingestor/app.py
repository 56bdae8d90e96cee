"""The ingestor built from its settings: database pool, migrations, broker, topology and the consumer.

`IngestorApp(settings)` connects nothing until `start()`; `run(stop)` starts, waits for `stop`, and
stops cleanly (consuming ends, in-flight messages finish, connections close). Tests drive this
same object.

The broker (faststream) connects, declares the topology and publishes (the handlers publish through
`BrokerPublisher`, the `EventPublisher` port's adapter on it); the one queue this service
consumes is consumed straight through aio-pika on the broker's channel (prefetch, confirms): at a
thousand messages a second faststream's per-delivery machinery cost more than the handler's own
bookkeeping. Every settlement goes through one `Acknowledger`, so a batch is acked with one frame;
nothing else consumes on that channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from faststream.rabbit import RabbitBroker

from intake.ingestor.batch_handler import BatchingHandler
from intake.ingestor.database_watch import DatabaseWatch
from intake.ingestor.deliveries import Delivery, Part
from intake.ingestor.handler import MessageFetchedHandler
from intake.ingestor.ingest import Ingestor
from intake.ingestor.metrics import IngestorMetrics
from intake.ingestor.postgres_store import PostgresIssueStore
from intake.ingestor.settings import IngestorSettings
from intake.ingestor.storage_cleanup import StorageCleanup
from intake.shared import bus, topology
from intake.shared.acknowledger import Acknowledger, Settled
from intake.shared.cleanup import run_cleanups
from intake.shared.database import Session, create_pool
from intake.shared.event_publisher import BrokerPublisher
from intake.shared.lifecycle import close_connections, serve_until
from intake.shared.migrations import migrate, migrate_blobs
from intake.shared.probes import Readiness, broker_check, check_readiness, database_check

log = structlog.get_logger(__name__)

# More connections than this would not make one process faster on its event loop.
MAX_POOL_SIZE = 10
# One probe of an unreachable database gives up after this long (a cut network never answers).
PROBE_TIMEOUT_SECONDS = 5.0


async def apply_migrations(conn: Session) -> None:
    """The blob store's and the ingestor's own (`tracker`) migrations."""
    await migrate_blobs(conn)
    await migrate(conn, "intake.ingestor", "tracker")


# How long a stop waits for the deliveries in progress to be settled.
STOP_WAIT_SECONDS = 30.0


class IngestorApp:
    def __init__(
        self, settings: IngestorSettings, *, wait_seconds: float = 60.0, metrics: IngestorMetrics | None = None
    ) -> None:
        self._settings = settings
        self.metrics = metrics if metrics is not None else IngestorMetrics()
        # How long a start waits for PostgreSQL and RabbitMQ to become reachable.
        self._wait_seconds = wait_seconds
        self._pool: asyncpg.Pool | None = None
        self._broker: RabbitBroker | None = None
        self._database_watch: DatabaseWatch | None = None
        self._batches: BatchingHandler | None = None
        self._consumer: tuple[AbstractQueue, str] | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self._cleanup_task: asyncio.Task[None] | None = None

    async def readiness(self) -> Readiness:
        """`/readyz`: the database pool and the broker connection are up."""
        return await check_readiness(
            {"database": database_check(lambda: self._pool), "broker": broker_check(lambda: self._broker)}
        )

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self._settings
        self._pool = await create_pool(
            settings.database_url.get_secret_value(),
            max_size=min(settings.ingestor_prefetch, MAX_POOL_SIZE),
            wait_seconds=self._wait_seconds,
            # The ingestor leaves no session state behind (transaction-scoped locks only, no LISTEN,
            # SET or cursors), so a released connection needs no reset query: one round trip less.
            reset_sessions=False,
        )
        async with self._pool.acquire() as conn:
            await apply_migrations(conn)
            # The pool does not reset sessions on release; whatever a migration set, clear it once here.
            await conn.reset()
        broker = bus.create_broker(
            settings.amqp_url.get_secret_value(),
            prefetch_count=settings.ingestor_prefetch,
            app_id="intake-ingestor",
            apply_types=False,
        )
        self._broker = broker
        pool = self._pool

        async def probe() -> None:
            async with pool.acquire(timeout=PROBE_TIMEOUT_SECONDS) as conn:
                await conn.fetchval("SELECT 1", timeout=PROBE_TIMEOUT_SECONDS)

        self._database_watch = DatabaseWatch(probe)
        publisher = BrokerPublisher(broker)
        ingestor = Ingestor(
            PostgresIssueStore(pool),
            limits=settings.attachment_limits(),
            tag_pattern=settings.subject_tag,
            inbox_cache_seconds=settings.ingestor_inbox_cache_seconds,
        )
        one = MessageFetchedHandler(
            ingestor,
            publisher,
            settings.delivery_limit,
            self._database_watch,
            database_wait_seconds=settings.ingestor_database_wait_seconds,
            metrics=self.metrics,
        )
        acknowledger = Acknowledger()

        async def ack_many(deliveries: Sequence[Delivery]) -> None:
            settled = [delivery for delivery in deliveries if isinstance(delivery, Settled)]
            batched = [delivery for delivery in deliveries if isinstance(delivery, Part)]
            if len(settled) + len(batched) != len(deliveries):  # every delivery here is wrapped below.
                raise TypeError("deliveries not settled through this consumer's acknowledger")
            for part in batched:  # the last part of a `FetchedBatch` acks the delivery (deliveries.py).
                await part.ack()
            await acknowledger.ack([delivery.message for delivery in settled])

        batches = BatchingHandler(
            ingestor, one, publisher, batch_size=settings.ingestor_batch_size, ack_many=ack_many, metrics=self.metrics
        )
        self._batches = batches
        # Bound once: the consumer calls them for every delivery.
        consume, take = one.consume, batches.take

        await bus.start_broker(broker, settings.delivery_limit, self._wait_seconds)
        queue = await broker.declare_queue(
            topology.work_queue(topology.INGESTOR_QUEUE, topology.MESSAGE_FETCHED, settings.delivery_limit)
        )
        in_flight = self._in_flight

        async def on_message_fetched(message: AbstractIncomingMessage) -> None:
            # aiormq runs each delivery in a task of its own; a stop waits for these.
            task = asyncio.current_task()
            if task is not None:
                in_flight.add(task)
            acknowledger.received(message)
            try:
                await consume(acknowledger.delivery(message), take)
            finally:
                if task is not None:
                    in_flight.discard(task)

        self._consumer = (queue, await queue.consume(on_message_fetched))
        # Expired dedupe keys and unreferenced blobs (storage_cleanup.py), now and every interval.
        self._cleanup_task = asyncio.create_task(
            run_cleanups(
                "ingestor outcomes and blobs",
                StorageCleanup.from_settings(pool, settings),
                settings.cleanup_interval_seconds,
                self.metrics.cleanup.observe,
            ),
            name="storage-cleanup",
        )
        log.info(
            "ingestor started",
            queue=topology.INGESTOR_QUEUE,
            prefetch=settings.ingestor_prefetch,
            batch_size=settings.ingestor_batch_size,
        )

    async def stop(self) -> None:
        """Stop consuming, let in-flight messages finish (the broker's graceful timeout), close connections.

        Deliveries held while waiting for an unreachable database are given back to the queue at once.
        """
        if self._cleanup_task is not None:
            self._cleanup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleanup_task
            self._cleanup_task = None
        if self._database_watch is not None:
            await self._database_watch.close()
            self._database_watch = None
        # Consuming ends first, then the deliveries in progress are settled (their batches finish), then
        # the connections close (a delivery still unacknowledged then goes back to the queue).
        if self._consumer is not None:
            queue, tag = self._consumer
            self._consumer = None
            with contextlib.suppress(Exception):  # a closed channel has no consumer left to cancel.
                await queue.cancel(tag)
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=STOP_WAIT_SECONDS)
        if self._batches is not None:
            await self._batches.close()
            self._batches = None
        await close_connections(self._broker, self._pool)
        self._broker, self._pool = None, None
        log.info("ingestor stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Start, run until `stop` is set (also while still starting), stop."""
        await serve_until(stop, self.start, self.stop)

    async def __aenter__(self) -> IngestorApp:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
