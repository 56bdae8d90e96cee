"""The email log's live mode: GET /email-log/live streams the rows of the page's filter that are new or changed,
as server-sent events, to a signed-in console session.

Each stream polls the table once a second by its change time (one indexed query) and sends each row it has
not sent yet, rendered with the table's own row template. Streams are bounded: at most MAX_STREAMS at once
per process (503 beyond), each ends after MAX_STREAM_SECONDS (the browser's EventSource reconnects with
`Last-Event-ID` and continues where it was), when the client goes away, or when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from intake.config_api.console.access import SessionDep
from intake.config_api.console.email_log_filter_form import read_filter_form
from intake.config_api.console.email_log_rows import render_rows
from intake.config_api.email_log_changes import Change, changes_since, database_now
from intake.config_api.email_log_filters import EmailLogFilter
from intake.config_api.live_changes import ChangeWindow, decode_mark, encode_mark, sse_comment, sse_event
from intake.config_api.routes.deps import PoolDep

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

POLL_SECONDS = 1.0
POLL_LIMIT = 200  # more changes than this in one second: the page is told to reload instead
KEEP_ALIVE_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0
MAX_STREAMS = 50
RETRY_MILLISECONDS = 3000


@dataclass
class LiveStreams:
    """The open streams of this process, and the signal that ends them when the server stops."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    open: int = 0


def live_streams(request: Request) -> LiveStreams:
    """This app's streams; they end when the server stops (`app.state.stopping`, set by `server.serve`)."""
    streams: LiveStreams | None = getattr(request.app.state, "live_streams", None)
    if streams is None:
        stopping = getattr(request.app.state, "stopping", None)
        streams = LiveStreams(stopping if isinstance(stopping, asyncio.Event) else asyncio.Event())
        request.app.state.live_streams = streams
    return streams


def _row_event(change: Change, html: str, mark: str) -> str:
    data = {"id": change.entry.id, "logged_at": change.logged_at.isoformat(), "html": html}
    return sse_event("row", json.dumps(data), mark)


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def stream_changes(
    pool: asyncpg.Pool,
    filters: EmailLogFilter,
    window: ChangeWindow,
    render: Callable[[list[Change]], Awaitable[list[str]]],
    stopping: asyncio.Event,
    max_seconds: float = MAX_STREAM_SECONDS,
    poll_limit: int = POLL_LIMIT,
) -> AsyncIterator[str]:
    """The events of one stream: each unseen change of `filters` as a `row` event, keep-alive comments, and an
    `overflow` event when too much changed at once."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    started = last_sent = time.monotonic()
    while not stopping.is_set() and time.monotonic() - started < max_seconds:
        changes = await changes_since(pool, filters, window.poll_from, poll_limit)
        if len(changes) == poll_limit:
            now = await database_now(pool)
            window = ChangeWindow(now, floor=now)  # the page reloads for those; never read them again
            yield sse_event("overflow", "many messages changed at once", encode_mark(window.mark))
            last_sent = time.monotonic()
        else:
            unseen = set(window.unseen((c.entry.id, c.updated_at) for c in changes))
            fresh = [c for c in changes if (c.entry.id, c.updated_at) in unseen]
            if fresh:
                mark = encode_mark(window.mark)
                for change, html in zip(fresh, await render(fresh), strict=True):
                    yield _row_event(change, html, mark)
                last_sent = time.monotonic()
        if time.monotonic() - last_sent >= KEEP_ALIVE_SECONDS:
            yield sse_comment("keep-alive")
            last_sent = time.monotonic()
        await _wait(stopping, POLL_SECONDS)


@router.get("/email-log/live")
async def email_log_live(request: Request, _: SessionDep, pool: PoolDep) -> Response:
    """Server-sent events for the email log page with the same query parameters (its filter).

    `since` (the page's render time) or the `Last-Event-ID` header says where the stream starts.
    """
    form = read_filter_form(request.query_params)
    if form.errors:
        return PlainTextResponse("the filter is not valid: " + "; ".join(form.errors.values()), status_code=400)
    streams = live_streams(request)
    if streams.open >= MAX_STREAMS:
        return PlainTextResponse(
            "too many live views are open; try again shortly", status_code=503, headers={"Retry-After": "30"}
        )
    now = await database_now(pool)
    start = request.headers.get("last-event-id") or request.query_params.get("live_since")
    window = ChangeWindow(decode_mark(start, now))

    async def events() -> AsyncIterator[str]:
        streams.open += 1
        try:
            async for event in stream_changes(
                pool, form.filters, window, lambda changes: render_rows(pool, changes), streams.stopping
            ):
                yield event
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
            log.warning("email log live stream ended by an error", error=f"{type(error).__name__}: {error}")
        finally:
            streams.open -= 1

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
