"""End-to-end fixtures: the three services as real processes over one database, vhost and Dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.dovecot import Dovecot, Mailbox
from tests.support.processes import Stack, free_port, make_env, wait_until


class Api:
    """A small client for config-api's HTTP interface, as another program would use it."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def create_inbox(self, dovecot: Dovecot, mailbox: Mailbox, **overrides: Any) -> dict[str, Any]:
        body = {
            "provider": "custom",
            "email": f"{mailbox.username}@example.test",
            "username": mailbox.username,
            "password": mailbox.password,
            "hostname": dovecot.host,
            "port": dovecot.imap_port,
            "encryption": "none",
            "auth": "password",
            "processed_action": "mark_read",
            "poll_interval_seconds": 1,
        }
        body.update(overrides)
        inbox: dict[str, Any] = self.post("/api/v1/inboxes", body)
        return inbox

    def email_log(self, inbox_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/api/v1/email-log", inbox_id=inbox_id, limit=200)["items"]
        return items

    def ready(self) -> bool:
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture
def stack(database_url: str, amqp_url: str, secret_key: str, admin_token: str, tmp_path: Path) -> Iterator[Stack]:
    env = make_env(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=secret_key,
        admin_token=admin_token,
        api_host="127.0.0.1",
        api_port=str(free_port()),
        log_level="info",
        fetcher_inbox_refresh_seconds="1",
    )
    stack = Stack(env, tmp_path)
    try:
        yield stack
    finally:
        statuses = stack.stop_all()
        # A clean SIGTERM stop is part of the contract (DESIGN §3); a kill here means it hung.
        assert all(code == 0 for code in statuses.values()), f"unclean stop {statuses}\n{stack.logs()}"


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    stack.start("config-api")
    client = Api(f"http://127.0.0.1:{stack.env['INTAKE_API_PORT']}", stack.env["INTAKE_ADMIN_TOKEN"])
    wait_until(client.ready, timeout=60, what="config-api /readyz", explain=stack.logs)
    yield client
    client.http.close()
