"""GET /email-log/live over a real uvicorn server, PostgreSQL and RabbitMQ: a signed-in console session gets
the new and changed rows of its filter as server-sent events; others are sent to sign in; the stream ends
when the server stops."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from intake.config_api.app import create_app
from intake.config_api.console.email_log_live import stream_changes
from intake.config_api.email_log_changes import Change
from intake.config_api.email_log_filters import EmailLogFilter
from intake.config_api.live_changes import ChangeWindow
from intake.config_api.runtime import Runtime
from intake.config_api.server import create_server, serve
from intake.config_api.settings import ConfigApiSettings
from intake.shared.contracts import Outcome
from tests.integration.config_api.conftest import eventually, free_port, started
from tests.integration.config_api.test_email_log import RAW, add_row


async def signed_in(base_url: str, admin_token: str) -> httpx.AsyncClient:
    """A client holding a console session, signed in through the sign-in form like a browser."""
    client = httpx.AsyncClient(base_url=base_url, timeout=10)
    form = await client.get("/sign-in", params={"next": "/email-log"})
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    response = await client.post("/sign-in", data={"token": admin_token, "nonce": nonce.group(1), "next": "/email-log"})
    assert response.status_code == 303, response.text
    return client


@asynccontextmanager
async def events(client: httpx.AsyncClient, **params: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """The `row` events of one live stream, decoded."""
    async with client.stream("GET", "/email-log/live", params=params, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")

        async def rows() -> AsyncIterator[dict[str, Any]]:
            kind, data = None, []
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data.append(line.removeprefix("data: "))
                elif line == "":
                    if kind == "row":
                        yield json.loads("\n".join(data))
                    kind, data = None, []

        yield rows()


async def test_a_session_gets_the_new_and_changed_rows_of_its_filter(
    served: str, admin_token: str, db: asyncpg.Connection
) -> None:
    anonymous = await httpx.AsyncClient(base_url=served).get("/email-log/live")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/sign-in?next=")

    client = await signed_in(served, admin_token)
    try:
        since = (await db.fetchval("SELECT now()")).isoformat()
        async with events(client, outcome="failed", live_since=since) as rows:
            await add_row(db, 1, RAW, Outcome.ISSUE_CREATED, issue_number=3)  # not in the filter
            failed = await add_row(db, 2, RAW, Outcome.FAILED)
            await db.execute(
                "UPDATE config.email_log SET subject = '<script>alert(1)</script>', updated_at = now() WHERE id = $1",
                failed,
            )
            first = await asyncio.wait_for(anext(rows), 15)
            assert first["id"] == failed
            assert "<script>" not in first["html"]
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first["html"]
            assert 'id="log-row-' in first["html"]
            assert "Failed" in first["html"]
    finally:
        await client.aclose()


async def test_a_bad_filter_is_refused(served: str, admin_token: str) -> None:
    client = await signed_in(served, admin_token)
    try:
        response = await client.get("/email-log/live", params={"since": "yesterday"})
        assert response.status_code == 400
        assert "Enter a date and time" in response.text
    finally:
        await client.aclose()


async def test_an_open_stream_does_not_hold_the_server_when_it_stops(
    settings: ConfigApiSettings, admin_token: str
) -> None:
    server = create_server(create_app(settings, wait_seconds=5), "127.0.0.1", free_port())
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(server, stop))
    await eventually(lambda: started(server, serving))
    client = await signed_in(f"http://127.0.0.1:{server.config.port}", admin_token)
    try:
        async with events(client) as rows:
            reading = asyncio.create_task(anext(rows, None))
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.wait_for(serving, timedelta(seconds=10).total_seconds())
            assert await asyncio.wait_for(reading, 5) is None  # the stream ended with the server
    finally:
        await client.aclose()


async def test_a_flood_of_changes_asks_for_a_reload_and_the_stream_goes_on(
    app: FastAPI, db: asyncpg.Connection
) -> None:
    runtime: Runtime = app.state.runtime
    start = await db.fetchval("SELECT now()")
    for uid in range(1, 5):
        await add_row(db, uid, RAW, Outcome.FAILED)
    stopping = asyncio.Event()

    async def render(changes: list[Change]) -> list[str]:
        return [f"row {change.entry.uid}" for change in changes]

    stream = stream_changes(
        runtime.pool, EmailLogFilter(), ChangeWindow(start), render, stopping, max_seconds=30, poll_limit=3
    )
    assert await anext(stream) == "retry: 3000\n\n"
    overflow = await asyncio.wait_for(anext(stream), 10)
    assert overflow.startswith("event: overflow\n")
    await add_row(db, 9, RAW, Outcome.ISSUE_CREATED, issue_number=1)
    row = await asyncio.wait_for(anext(stream), 10)
    assert row.startswith("event: row\n")
    assert '"html": "row 9"' in row  # only the change after the overflow, not the flood again
    stopping.set()
    rest = [event async for event in stream]
    assert all(not event.startswith("event: row") for event in rest)


async def test_a_stream_ends_when_its_client_goes_away(settings: ConfigApiSettings, admin_token: str) -> None:
    application = create_app(settings, wait_seconds=5)
    server = create_server(application, "127.0.0.1", free_port())
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(server, stop))
    await eventually(lambda: started(server, serving))
    client = await signed_in(f"http://127.0.0.1:{server.config.port}", admin_token)

    async def open_streams() -> int:
        streams = getattr(application.state, "live_streams", None)
        return 0 if streams is None else int(streams.open)

    try:
        async with client.stream("GET", "/email-log/live", timeout=30) as response:
            assert await anext(response.aiter_lines()) == "retry: 3000"
            assert await open_streams() == 1
        await eventually(lambda: _closed(open_streams), timeout=10)
    finally:
        await client.aclose()
        stop.set()
        await asyncio.wait_for(serving, 30)


async def _closed(open_streams: Callable[[], Awaitable[int]]) -> bool:
    return await open_streams() == 0
