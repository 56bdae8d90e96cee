"""Serving the app with uvicorn until the stop event is set (SIGTERM/SIGINT via `run_until_stopped`).

uvicorn's own signal handlers are switched off: `intake.shared.lifecycle` owns the signals, and a set
stop event asks uvicorn to finish in-flight requests and run the lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator

import structlog
import uvicorn
from fastapi import FastAPI

from intake.config_api.errors import StartupFailed

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # run_until_stopped handles SIGTERM/SIGINT; uvicorn must not replace those handlers.
        yield


class _DropCancelledLifespan(logging.Filter):
    """Drops uvicorn's report of a lifespan start-up that was cancelled: `serve` cancels it only when a
    stop was requested before the server started, which is a clean stop, not an application error.

    Starlette reports a start-up that raised as the traceback's text (no exc_info), so the record is
    recognised by that text ending in the cancellation.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().rstrip()
        return not (text.startswith("Traceback") and text.endswith("CancelledError"))


# Query parameters that carry credentials: the OAuth2 callback's one-time code and its state.
_CREDENTIAL_QUERY = re.compile(r"(?i)([?&](?:code|state|access_token|refresh_token|client_secret)=)[^&\s]*")


class _RedactCredentialQuery(logging.Filter):
    """Blanks credentials in the request targets of uvicorn's access log (the OAuth2 callback's code and state)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _CREDENTIAL_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


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
    logging.getLogger("uvicorn.error").addFilter(_DropCancelledLifespan())
    logging.getLogger("uvicorn.access").addFilter(_RedactCredentialQuery())
    return _Server(config)


async def _run(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exit_:
        # uvicorn exits the process when the lifespan startup fails (after logging why); turn that into
        # an exception here, inside the task, because a SystemExit escaping a task breaks the event loop.
        raise StartupFailed(f"the server could not start (uvicorn exit status {exit_.code})") from None


def _end_long_responses(server: uvicorn.Server) -> None:
    """Tell long-lived responses (the console's live email log) to end: uvicorn's shutdown waits for every open
    connection, so a stream left open would hold the stop for ever. They watch `app.state.stopping`."""
    stopping = getattr(getattr(server.config.app, "state", None), "stopping", None)
    if isinstance(stopping, asyncio.Event):
        stopping.set()


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
        _end_long_responses(server)
        server.should_exit = True
        if not server.started:
            # Still in the lifespan start-up (waiting for PostgreSQL or RabbitMQ): should_exit is only
            # read once serving, so a SIGTERM would wait out the start-up. Cancel it instead.
            serving.cancel()
            log.info("stopped while starting")
        with contextlib.suppress(asyncio.CancelledError):
            await serving
