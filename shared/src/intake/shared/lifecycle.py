"""Running a service until SIGTERM or SIGINT, then letting it stop cleanly.

A service's `__main__` hands its main coroutine to `run_until_stopped` and runs that with
`run_service` (on uvloop); the coroutine receives an event that is set on the first signal, finishes
its in-flight work, and returns.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
import structlog
import uvloop
from faststream.rabbit import RabbitBroker

log = structlog.get_logger(__name__)

T = TypeVar("T")


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run a service's main coroutine to its end on uvloop (libuv's event loop): every service spends
    most of its CPU in the event loop's own work (callbacks, socket reads and writes), which uvloop
    does in C. The tests drive the same apps on asyncio's own loop, so both are exercised."""
    return uvloop.run(main)


async def close_connections(broker: RabbitBroker | None, pool: asyncpg.Pool | None) -> None:
    """Close a service's connections: the broker first, so no handler writes to a closing pool.

    A delivery still unacknowledged when the broker closes is redelivered to another consumer.
    """
    if broker is not None:
        await broker.stop()
    if pool is not None:
        await pool.close()


async def serve_until(
    stop: asyncio.Event, start: Callable[[], Awaitable[None]], shutdown: Callable[[], Awaitable[None]]
) -> None:
    """Run `start`, then wait for `stop`; always `shutdown` at the end.

    A stop requested while `start` is still waiting (PostgreSQL or RabbitMQ not up yet, up to a
    minute) cancels the start instead of being ignored until it ends, so SIGTERM is honoured at once.
    A failed start raises after the shutdown.
    """
    starting = asyncio.ensure_future(start())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            await stopping
        else:
            log.info("stopped while starting")
    finally:
        starting.cancel()
        stopping.cancel()
        # Wait for both to finish unwinding; a start's own error was already raised by result() above.
        await asyncio.gather(starting, stopping, return_exceptions=True)
        await shutdown()


async def run_until_stopped(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)`; `stop` is set on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop(name: str) -> None:
        if not stop.is_set():
            log.info("stop requested", signal=name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop, sig.name)
    try:
        await main(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
