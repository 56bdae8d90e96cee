"""Waiting out a PostgreSQL outage: one probe, shared by every message in flight, says when it is back.

A message that fails because the database is unreachable is not at fault: the handler holds its
delivery (unacknowledged) and waits here instead of requeueing it, so an outage does not use up the
queue's delivery limit. Knows nothing of RabbitMQ or of messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from enum import Enum

import structlog

log = structlog.get_logger(__name__)

# Probe delays: 0.25 s, doubling, at most this many seconds between two probes.
MAX_PROBE_DELAY_SECONDS = 5.0


class Wait(Enum):
    """How a wait for the database ended."""

    REACHABLE = "reachable"
    TIMED_OUT = "timed_out"
    STOPPING = "stopping"


class DatabaseWatch:
    """Runs `probe` (which raises while the database is unreachable) until it succeeds, for all waiters at once."""

    def __init__(self, probe: Callable[[], Awaitable[object]], *, max_delay: float = MAX_PROBE_DELAY_SECONDS) -> None:
        self._probe = probe
        self._max_delay = max_delay
        self._reachable = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait_until_reachable(self, at_most_seconds: float) -> Wait:
        """Wait until a probe succeeds (one started now or already running), at most `at_most_seconds`."""
        if self._stopping.is_set():
            return Wait.STOPPING
        if self._task is None or self._task.done():
            self._reachable = asyncio.Event()
            self._task = asyncio.create_task(self._watch(self._reachable))
        event = self._reachable
        reachable = asyncio.ensure_future(event.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait(
                {reachable, stopping}, timeout=max(at_most_seconds, 0.0), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            reachable.cancel()
            stopping.cancel()
        if self._stopping.is_set():
            return Wait.STOPPING
        return Wait.REACHABLE if event.is_set() else Wait.TIMED_OUT

    async def _watch(self, reachable: asyncio.Event) -> None:
        started = time.monotonic()
        delay = 0.25
        failures = 0
        while True:
            try:
                await self._probe()
                break
            except Exception as error:
                failures += 1
                if failures == 1:
                    log.warning(
                        "database unreachable, holding the messages in flight until it answers",
                        error=f"{type(error).__name__}: {error}",
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)
        if failures:
            log.info("database reachable again", unreachable_seconds=round(time.monotonic() - started, 1))
        reachable.set()

    async def close(self) -> None:
        """Release every waiter (`Wait.STOPPING`) and stop probing; for a service that is stopping."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
