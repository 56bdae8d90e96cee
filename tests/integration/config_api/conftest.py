"""Fixtures for the config API over real PostgreSQL and RabbitMQ: the app with its lifespan running, an
authorised HTTP client through ASGI, a publisher on the test's vhost, and the tracker views the ingestor owns.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg
import httpx
import pytest
import structlog
import uvicorn
from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from intake.config_api.app import create_app
from intake.config_api.server import create_server, serve
from intake.config_api.settings import ConfigApiSettings
from intake.shared.bus import create_broker
from intake.shared.logging import configure_logging

T = TypeVar("T")


@pytest.fixture
def settings(
    database_url: str, amqp_url: str, secret_key: str, admin_token: str, service_token: str
) -> ConfigApiSettings:
    return ConfigApiSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=secret_key,
        admin_token=admin_token,
        service_token=service_token,
    )


@pytest.fixture
async def app(settings: ConfigApiSettings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running: migrated database, broker consuming."""
    application = create_app(settings, wait_seconds=5)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://config-api") as client:
        yield client


@pytest.fixture
async def client(app: FastAPI, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://config-api", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def publisher(app: FastAPI, amqp_url: str) -> AsyncIterator[RabbitBroker]:
    """A second connection that publishes like the fetcher and the ingestor do (after the app bound its queues)."""
    broker = create_broker(amqp_url, app_id="test-publisher")
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.stop()


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """The first truthy result of `probe`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last result {result!r})")
        await asyncio.sleep(0.05)


# The ingestor's views with exactly the columns the config API reads, over test-made tables.
TRACKER_SQL = """
CREATE SCHEMA tracker;
CREATE TABLE tracker.issues (
    number bigint PRIMARY KEY, title text NOT NULL, status text NOT NULL, issue_type_id bigint, language text,
    assigned_user_id bigint, assigned_organisation_id bigint, requester_email text, requester_name text,
    inbox_id bigint, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE tracker.messages (
    id bigint PRIMARY KEY, issue_number bigint NOT NULL REFERENCES tracker.issues, message_id text,
    from_address text, from_name text, to_addresses text[] NOT NULL DEFAULT '{}',
    cc_addresses text[] NOT NULL DEFAULT '{}', subject text, sent_at timestamptz, body_text text,
    created_at timestamptz NOT NULL);
CREATE TABLE tracker.attachments (
    id bigint PRIMARY KEY, message_id bigint NOT NULL REFERENCES tracker.messages, filename text,
    content_type text, size bigint NOT NULL, sha256 text NOT NULL, inline boolean NOT NULL DEFAULT false,
    content_id text);
CREATE VIEW tracker.issue_view AS
    SELECT number, title, status, issue_type_id, language, assigned_user_id, assigned_organisation_id,
           requester_email, requester_name, inbox_id, created_at, updated_at FROM tracker.issues;
CREATE VIEW tracker.message_view AS
    SELECT id, issue_number, message_id, from_address, from_name, to_addresses, cc_addresses, subject, sent_at,
           body_text, created_at FROM tracker.messages;
CREATE VIEW tracker.attachment_view AS
    SELECT id, message_id, filename, content_type, size, sha256, inline, content_id FROM tracker.attachments;
"""


@pytest.fixture
async def tracker(db: asyncpg.Connection) -> asyncpg.Connection:
    """The test database with the tracker schema and its views; returns the connection to fill them."""
    await db.execute(TRACKER_SQL)
    return db


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def served(settings: ConfigApiSettings) -> AsyncIterator[str]:
    """The app behind a real uvicorn server on a free loopback port, as `__main__` runs it; yields its URL."""
    server = create_server(create_app(settings, wait_seconds=5), "127.0.0.1", free_port())
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(server, stop))
    await eventually(lambda: started(server, serving))
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)


async def started(server: uvicorn.Server, serving: asyncio.Task[None]) -> bool:
    if serving.done():
        serving.result()  # raises what made the server end
        raise AssertionError("the server ended before it started")
    return server.started


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """The service's JSON logging at debug level, written to a buffer; the previous setup restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("config-api", "debug")
    buffer = io.StringIO()
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
