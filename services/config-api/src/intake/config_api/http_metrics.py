"""Counting config-api's HTTP requests by route template (`/api/v1/inboxes/{inbox_id}`), method and status.

A plain ASGI middleware: it reads the route the router matched (Starlette leaves it in the scope), so a
path with ids never becomes a label value of its own; a path no route matched counts as `unmatched`.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.config_api.metrics import ConfigApiMetrics

UNMATCHED = "unmatched"
# Any other method is counted as `other`: a client must not be able to invent label values.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's full template, or `unmatched`.

    The route left in the scope is the innermost one; a route of an included router knows only its own
    part (`/inboxes/{inbox_id}`), so the part of the path before it, a router's fixed prefix, is put back.
    """
    route: Any = scope.get("route")
    template = getattr(route, "path_format", None)
    regex = getattr(route, "path_regex", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED
    path: str = scope.get("path", "")
    if regex is None or regex.match(path):
        return template
    cut = path.find("/", 1)
    while cut != -1:
        if regex.match(path[cut:]):
            return path[:cut] + template
        cut = path.find("/", cut + 1)
    return template


class HttpMetrics:
    """Wraps the app; counts each HTTP request once its response started (500 when it never did)."""

    def __init__(self, app: ASGIApp, metrics: ConfigApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.http_requests.labels(route, method, str(status)).inc()
            self.metrics.http_duration.labels(route, method).observe(time.perf_counter() - started)
