"""What the running API holds between start and stop: the database pool, the broker, the secret box.

`Runtime.start` connects (waiting for PostgreSQL and RabbitMQ while they come up), applies the config
schema's migrations, declares the topology and starts the email log (batched) and inbox status consumers;
`stop` undoes it.
Nothing here runs at import time or when the app is built, only in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx
import structlog
from faststream.rabbit import RabbitBroker

from intake.config_api.email_log_consumers import EmailLogConsumers
from intake.config_api.email_log_retention import run_retention
from intake.config_api.inbox_status_consumer import register_inbox_status_consumer
from intake.config_api.metrics import ConfigApiMetrics
from intake.config_api.metrics_refresh import run_refresh
from intake.config_api.oauth2_connect import ConnectFlow, Endpoints
from intake.config_api.oauth2_providers import Google, Microsoft, ssl_context
from intake.config_api.oauth2_tokens import TokenService
from intake.config_api.settings import ConfigApiSettings
from intake.shared.bus import create_broker, start_broker
from intake.shared.database import create_pool
from intake.shared.event_publisher import BrokerPublisher, EventPublisher
from intake.shared.lifecycle import close_connections
from intake.shared.migrations import migrate
from intake.shared.probes import Readiness, broker_check, check_readiness, database_check
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)

SERVICE = "intake-config-api"
# Every query is planned for its own values. asyncpg prepares each statement, and after five runs
# PostgreSQL may switch to a generic plan made without the values: for the email log's substring filters
# (`sender ILIKE $1`) that plan walks the time index and filters, ~100k rows for a rare fragment (65 ms
# at 1,000,000 rows, 10 ms planned with the value; docs/benchmarks.md "console"). Planning these small
# queries each time costs well under a millisecond.
POOL_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


class Runtime:
    """The service's connections; `pool` and `broker` may be used only between `start` and `stop`."""

    def __init__(
        self, settings: ConfigApiSettings, *, wait_seconds: float = 60.0, metrics: ConfigApiMetrics | None = None
    ) -> None:
        self.metrics = metrics if metrics is not None else ConfigApiMetrics()
        self.admin_token = settings.admin_token.get_secret_value()
        self.service_token = settings.service_token.get_secret_value()
        self._settings = settings
        self.secret_box = SecretBox(settings.secret_key.get_secret_value())
        self.connection_test_seconds = settings.connection_test_timeout_seconds
        self._database_url = settings.database_url.get_secret_value()
        self._amqp_url = settings.amqp_url.get_secret_value()
        self._delivery_limit = settings.delivery_limit
        self._wait_seconds = wait_seconds
        self._retention_days = settings.email_log_retention_days
        self._cleanup_interval = settings.email_log_cleanup_interval_seconds
        self._retention: asyncio.Task[None] | None = None
        self._metrics_refresh: asyncio.Task[None] | None = None
        self._pool: asyncpg.Pool | None = None
        self._broker: RabbitBroker | None = None
        self._http: httpx.AsyncClient | None = None
        self._tokens: TokenService | None = None
        self._connect: ConnectFlow | None = None
        self._email_log: EmailLogConsumers | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the config API is not started")
        return self._pool

    @property
    def broker(self) -> RabbitBroker:
        if self._broker is None:
            raise RuntimeError("the config API is not started")
        return self._broker

    @property
    def publisher(self) -> EventPublisher:
        """What the API publishes through (reprocess, inbox.changed): the broker's confirming channel."""
        return BrokerPublisher(self.broker)

    async def readiness(self) -> Readiness:
        """`/readyz`: the database pool and the broker connection are up."""
        return await check_readiness(
            {"database": database_check(lambda: self._pool), "broker": broker_check(lambda: self._broker)}
        )

    @property
    def tokens(self) -> TokenService:
        if self._tokens is None:
            raise RuntimeError("the config API is not started")
        return self._tokens

    @property
    def connect(self) -> ConnectFlow:
        if self._connect is None:
            raise RuntimeError("the config API is not started")
        return self._connect

    def _start_oauth2(self, pool: asyncpg.Pool) -> None:
        settings = self._settings
        self._http = httpx.AsyncClient(
            verify=ssl_context(settings.oauth2_ca_file), timeout=settings.oauth2_timeout_seconds
        )
        google = Google(settings.oauth2_google_token_url, self._http)
        microsoft = Microsoft(
            settings.oauth2_microsoft_authority,
            ca_file=settings.oauth2_ca_file,
            timeout=settings.oauth2_timeout_seconds,
        )
        self._tokens = TokenService(
            pool, self.secret_box, google, microsoft, record_refresh=self.metrics.record_oauth2_refresh
        )
        endpoints = Endpoints(
            google_authorize_url=settings.oauth2_google_authorize_url,
            microsoft_authority=settings.oauth2_microsoft_authority,
            redirect_url=settings.redirect_url,
            state_ttl_seconds=settings.oauth2_state_ttl_seconds,
        )
        self._connect = ConnectFlow(pool, self.secret_box, endpoints, google, microsoft, self._tokens)

    async def start(self) -> None:
        self._pool = await create_pool(
            self._database_url, wait_seconds=self._wait_seconds, server_settings=POOL_SETTINGS
        )
        async with self._pool.acquire() as conn:
            # The runner takes a plain connection; a pooled one is the same connection behind a proxy.
            await migrate(conn, "intake.config_api", "config")
        self._broker = create_broker(self._amqp_url, app_id=SERVICE)
        register_inbox_status_consumer(self._broker, self._pool, self._delivery_limit)
        await start_broker(self._broker, self._delivery_limit, self._wait_seconds)
        self._email_log = EmailLogConsumers(self._pool, self._delivery_limit, self.metrics)
        await self._email_log.start(self._broker)
        if self._retention_days > 0:
            self._retention = asyncio.create_task(
                run_retention(self._pool, self._retention_days, self._cleanup_interval, self.metrics.cleanup.observe),
                name="email-log-retention",
            )
        self._start_oauth2(self._pool)
        self._metrics_refresh = asyncio.create_task(
            run_refresh(self._pool, self._broker, self.metrics), name="metrics-refresh"
        )
        log.info("config api started")

    async def stop(self) -> None:
        if self._metrics_refresh is not None:
            self._metrics_refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._metrics_refresh
            self._metrics_refresh = None
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        if self._email_log is not None:
            await self._email_log.close()
            self._email_log = None
        if self._http is not None:
            await self._http.aclose()
        self._http, self._tokens, self._connect = None, None, None
        await close_connections(self._broker, self._pool)
        self._broker, self._pool = None, None
        log.info("config api stopped")
