"""Serving the app with uvicorn until the stop event is set (SIGTERM/SIGINT via `run_until_stopped`).

uvicorn's own signal handlers are switched off: `intake.shared.lifecycle` owns the signals, and a set
stop event asks uvicorn to finish in-flight requests and run the lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from intake.config_api.errors import StartupFailed


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # run_until_stopped handles SIGTERM/SIGINT; uvicorn must not replace those handlers.
        yield


def create_server(app: FastAPI, host: str, port: int, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for `app` that logs through the root logger (configured by `configure_logging`)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level.lower(),
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )
    return _Server(config)


async def _run(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exit_:
        # uvicorn exits the process when the lifespan startup fails (after logging why); turn that into
        # an exception here, inside the task, because a SystemExit escaping a task breaks the event loop.
        raise StartupFailed(f"the server could not start (uvicorn exit status {exit_.code})") from None


async def serve(server: uvicorn.Server, stop: asyncio.Event) -> None:
    """Run `server` until `stop` is set, then let it shut down cleanly.

    Returns early when the server ends by itself; raises StartupFailed when it could not start.
    """
    serving = asyncio.create_task(_run(server), name="uvicorn")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        server.should_exit = True
        await serving
