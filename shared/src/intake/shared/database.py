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


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A pool `reset` that leaves the session as it is (asyncpg still rolls back an open transaction)."""


async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    wait_seconds: float = 60.0,
    server_settings: dict[str, str] | None = None,
    reset_sessions: bool = True,
) -> asyncpg.Pool:
    """Open a pool, retrying while the server is starting or unreachable for up to `wait_seconds`.

    `server_settings` are session settings every connection of the pool starts with. With
    `reset_sessions=False` a released connection is only rolled back if a transaction is open, not
    reset (asyncpg's reset query is a round trip per release); for users that leave no session state:
    no session-level advisory locks, LISTEN, SET or open cursors."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            pool = await asyncpg.create_pool(
                database_url,
                min_size=min_size,
                max_size=max_size,
                server_settings=server_settings,
                reset=None if reset_sessions else _keep_session,
            )
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as error:
            if time.monotonic() >= deadline:
                raise
            log.warning("database not reachable yet, retrying", error=str(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
