"""The small HTTP listener of the fetcher and the ingestor: `/healthz`, `/readyz` and `/metrics`.

A plain ASGI app (three fixed paths need no framework) served by uvicorn inside the service's own
event loop, so `/healthz` answering proves that loop is alive. `run_beside` runs it next to the
service's main coroutine and stops it with the service; a listener that cannot bind stops the service.
`run_with_probes` is the whole run of a service with its listener, until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import structlog
import uvicorn
from prometheus_client import CollectorRegistry, make_asgi_app

from intake.shared.lifecycle import run_service, run_until_stopped
from intake.shared.probes import Readiness

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# How long a stopping listener waits for a scrape in progress.
SHUTDOWN_SECONDS = 2


class ListenerFailed(Exception):
    """The listener could not start (its address is taken or not available); uvicorn logged why."""


async def _send_json(send: Send, status: int, body: dict[str, object], *, head: bool = False) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else payload})


def probe_app(registry: CollectorRegistry, readiness: Callable[[], Awaitable[Readiness]]) -> AsgiApp:
    """The ASGI app: GET `/healthz` (always 200 while the loop runs), `/readyz` (200 or 503 naming what
    failed), `/metrics` (the registry in the Prometheus text format); anything else 404, other methods 405."""
    metrics = make_asgi_app(registry)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        path, method = scope["path"], scope["method"]
        if path not in ("/healthz", "/readyz", "/metrics"):
            await _send_json(send, 404, {"detail": "not found"})
        elif method not in ("GET", "HEAD"):
            await _send_json(send, 405, {"detail": "method not allowed"})
        elif path == "/metrics":
            await metrics(scope, receive, send)
        elif path == "/healthz":
            await _send_json(send, 200, {"status": "ok"}, head=method == "HEAD")
        else:
            result = await readiness()
            await _send_json(send, 200 if result.ready else 503, result.as_json(), head=method == "HEAD")

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # intake.shared.lifecycle owns SIGTERM/SIGINT; uvicorn must not replace those handlers.
        yield


def create_listener(app: AsgiApp, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for `app` logging through the root logger, without an access log (a probe every
    few seconds would drown the service's own lines)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    return _Server(config)


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit:
        # uvicorn exits the process when it cannot bind; a SystemExit escaping a task breaks the loop.
        host, port = server.config.host, server.config.port
        raise ListenerFailed(f"the HTTP listener could not start on {host}:{port}") from None


async def run_beside(
    server: uvicorn.Server, main: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Serve `server` while `main(stop)` runs; stop it when `main` returns.

    A listener that fails to start sets `stop` (the service stops cleanly) and raises ListenerFailed
    once `main` has returned.
    """
    listening = asyncio.create_task(_serve(server), name="probe-listener")
    listening.add_done_callback(lambda _: stop.set())
    try:
        await main(stop)
    finally:
        server.should_exit = True
        await asyncio.wait({listening})
    listening.result()


def run_with_probes(
    main: Callable[[asyncio.Event], Awaitable[None]],
    registry: CollectorRegistry,
    readiness: Callable[[], Awaitable[Readiness]],
    host: str,
    port: int,
) -> None:
    """Run `main(stop)` until SIGTERM/SIGINT with /healthz, /readyz and /metrics served beside it.

    The listener is served from the start, so a probe sees the service start up. Raises ListenerFailed
    (after `main` has stopped) when the listener cannot start.
    """
    listener = create_listener(probe_app(registry, readiness), host, port)

    async def run(stop: asyncio.Event) -> None:
        await run_beside(listener, main, stop)

    run_service(run_until_stopped(run))
