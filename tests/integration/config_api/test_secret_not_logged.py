"""No log line of the app, ours or the libraries', carries an inbox password (DESIGN §1: never logged)."""

from __future__ import annotations

import io

import httpx

PASSWORD = "in-process-secret-8e2b"


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
