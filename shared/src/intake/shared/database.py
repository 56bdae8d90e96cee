"""PostgreSQL connection pools for the services, and waiting for the database at start.

A service started before PostgreSQL (docker compose, `make run`) waits with a log line instead of
crashing; it gives up after `wait_seconds` with the last error.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

# Anything that runs a query: a connection, a pool's connection, or the pool itself.
Executor = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool
# A single connection, held (for transactions and session-level locks).
Session = asyncpg.Connection | PoolConnectionProxy


async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    wait_seconds: float = 60.0,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """Open a pool, retrying while the server is starting or unreachable for up to `wait_seconds`.

    `server_settings` are session settings every connection of the pool starts with."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            pool = await asyncpg.create_pool(
                database_url, min_size=min_size, max_size=max_size, server_settings=server_settings
            )
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as error:
            if time.monotonic() >= deadline:
                raise
            log.warning("database not reachable yet, retrying", error=str(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
