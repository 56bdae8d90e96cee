"""The fetcher application built from settings: pool, migrations, broker, consumers, inbox supervisor with leases.

`FetcherApp.run(stop)` is what `__main__` and the integration tests both drive. Nothing connects
before `start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from intake.fetcher.inboxes import WatchedInbox, load_active_inboxes
from intake.fetcher.lease_repository import LeaseRepository, new_replica_id
from intake.fetcher.metrics import FetcherMetrics
from intake.fetcher.outcome_consumer import ProcessedHandler
from intake.fetcher.poller import InboxPoller, PollerContext
from intake.fetcher.record_retention import prune_records
from intake.fetcher.settings import FetcherSettings
from intake.fetcher.supervisor import Supervisor
from intake.shared import batched_events, topology
from intake.shared.batch_consumer import BatchConsumer
from intake.shared.bus import create_broker, start_broker
from intake.shared.cleanup import run_cleanups
from intake.shared.cleanup_metrics import CleanupReport
from intake.shared.contracts import InboxChanged, MessageProcessed
from intake.shared.database import create_pool
from intake.shared.event_publisher import BrokerPublisher
from intake.shared.lifecycle import close_connections, serve_until
from intake.shared.migrations import migrate, migrate_blobs
from intake.shared.probes import Readiness, broker_check, check_readiness, database_check
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)

# Outcomes recorded in one transaction at most (see processed.py).
OUTCOME_BATCH_SIZE = 200


async def the_delivery_itself(message: RabbitMessage) -> RabbitMessage:
    """The subscribers' decoder: each handler takes the delivery itself and validates its body, with no
    dependency injection in between (see `bus.create_broker(apply_types=False)`: injection runs a
    resolver in a worker thread per delivery, one outcome per fetched message)."""
    return message


class FetcherApp:
    """Owns the fetcher's connections and tasks for one process lifetime."""

    def __init__(self, settings: FetcherSettings, metrics: FetcherMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else FetcherMetrics()
        self._secret_box = SecretBox(settings.secret_key.get_secret_value())
        self.replica = new_replica_id()
        self._pool: asyncpg.Pool | None = None
        self._broker: RabbitBroker | None = None
        self._supervisor: Supervisor[WatchedInbox] | None = None
        self._supervisor_task: asyncio.Task[None] | None = None
        self._outcomes: BatchConsumer[MessageProcessed] | None = None
        self._cleanup_task: asyncio.Task[None] | None = None

    @property
    def supervisor(self) -> Supervisor[WatchedInbox]:
        assert self._supervisor is not None, "FetcherApp.start() first"
        return self._supervisor

    async def readiness(self) -> Readiness:
        """`/readyz`: the database pool and the broker connection are up."""
        return await check_readiness(
            {"database": database_check(lambda: self._pool), "broker": broker_check(lambda: self._broker)}
        )

    async def start(self) -> None:
        settings = self.settings
        # Every connection names this replica: the database refuses a checkpoint write without its lease.
        self._pool = pool = await create_pool(
            settings.database_url.get_secret_value(),
            server_settings={"intake.fetcher_replica": self.replica},
            # The fetcher leaves no session state that matters (no session locks, LISTEN, SET or
            # cursors; the blob upload temp table empties at each commit), so a released connection
            # needs no reset query: one round trip less per acquire.
            reset_sessions=False,
        )
        async with pool.acquire() as conn:
            await migrate_blobs(conn)
            await migrate(conn, "intake.fetcher", "fetcher")
            # Whatever a migration left in the session, clear it once here (RESET ALL keeps the
            # replica setting: it is the session's default).
            await conn.reset()

        self._broker = broker = create_broker(
            settings.amqp_url.get_secret_value(),
            prefetch_count=settings.fetcher_prefetch,
            app_id="intake-fetcher",
            apply_types=False,
        )
        events = BrokerPublisher(broker)
        context = PollerContext(
            pool=pool, events=events, secret_box=self._secret_box, settings=settings, metrics=self.metrics
        )

        async def load() -> list[WatchedInbox]:
            return await load_active_inboxes(pool)

        async def run_inbox(inbox: WatchedInbox, wake: asyncio.Event) -> None:
            await InboxPoller(inbox, context, wake).run()

        async def announce_released(inbox_ids: Collection[int]) -> None:
            for inbox_id in sorted(inbox_ids):
                changed = InboxChanged(inbox_id=inbox_id, changed_at=datetime.now(UTC))
                await events.publish(changed, topology.INBOX_CHANGED, mandatory=False)

        ownership = LeaseRepository(pool, self.replica, settings.fetcher_lease_seconds)
        self._supervisor = supervisor = Supervisor(
            load,
            run_inbox,
            settings.fetcher_inbox_refresh_seconds,
            ownership,
            announce_released,
            observe=self.metrics.leases_changed,
        )
        self._outcomes = BatchConsumer(
            topology.work_queue(topology.FETCHER_PROCESSED_QUEUE, topology.MESSAGE_PROCESSED, settings.delivery_limit),
            batched_events.outcomes,
            ProcessedHandler(pool, supervisor.wake).handle_batch,
            batch_size=OUTCOME_BATCH_SIZE,
            prefetch=settings.fetcher_prefetch,
        )

        # A hint, not work: one transient queue per replica, gone with it; a lost hint only waits for
        # the next periodic refresh.
        @broker.subscriber(
            RabbitQueue(
                f"fetcher.inbox-changed.{self.replica}",
                durable=False,
                exclusive=True,
                auto_delete=True,
                routing_key=topology.INBOX_CHANGED,
            ),
            topology.EXCHANGE,
            ack_policy=AckPolicy.ACK_FIRST,
            decoder=the_delivery_itself,
        )
        async def on_inbox_changed(message: RabbitMessage) -> None:
            supervisor.nudge(InboxChanged.model_validate_json(message.body).inbox_id)

        await start_broker(broker, settings.delivery_limit)
        await self._outcomes.start(broker)
        self._supervisor_task = asyncio.create_task(supervisor.run(), name="inbox-supervisor")
        if settings.fetcher_retention_days:
            retention = timedelta(days=settings.fetcher_retention_days)

            async def prune() -> CleanupReport:
                return await prune_records(pool, retention)

            self._cleanup_task = asyncio.create_task(
                run_cleanups("fetcher records", prune, settings.cleanup_interval_seconds, self.metrics.cleanup.observe),
                name="fetcher-cleanup",
            )
        log.info("fetcher started", replica=self.replica, lease_seconds=settings.fetcher_lease_seconds)

    async def stop(self) -> None:
        """Stop the inbox loops (each logs out), then the broker, then the pool."""
        if self._cleanup_task is not None:
            self._cleanup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleanup_task
            self._cleanup_task = None
        if self._supervisor_task is not None:
            self._supervisor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor_task
            self._supervisor_task = None
        if self._outcomes is not None:
            await self._outcomes.close()
            self._outcomes = None
        await close_connections(self._broker, self._pool)
        self._broker, self._pool = None, None
        log.info("fetcher stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Start, run until `stop` is set (also while still starting), stop."""
        await serve_until(stop, self.start, self.stop)
