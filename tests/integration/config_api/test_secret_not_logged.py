"""No log line of the app, ours or the libraries', carries an inbox password (DESIGN §1: never logged)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from intake.shared.logging import configure_logging

PASSWORD = "in-process-secret-8e2b"


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


async def test_inbox_create_logs_no_password(captured_log: io.StringIO, served: str, admin_token: str) -> None:
    body = {"provider": "yahoo", "email": "desk@example.com", "password": PASSWORD}
    async with httpx.AsyncClient(base_url=served, headers={"Authorization": f"Bearer {admin_token}"}) as client:
        assert (await client.post("/api/v1/inboxes", json=body)).status_code == 201
        assert (await client.post("/api/v1/inboxes", json=body | {"port": "x"})).status_code == 422
        assert (await client.post("/api/v1/inboxes", json={"password": PASSWORD})).status_code == 422

    output = captured_log.getvalue()
    assert '"message": "inbox created"' in output  # the capture works
    assert "POST /api/v1/inboxes" in output  # uvicorn's access log is captured too
    assert PASSWORD not in output
