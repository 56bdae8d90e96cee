"""A small client for config-api's HTTP interface, as another program would use it (e2e tests, benchmarks)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.dovecot import Dovecot, Mailbox


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
        defaults = {"encryption": "none", "auth": "password", "processed_action": "mark_read"}
        body = inbox_body(dovecot, mailbox, **(defaults | overrides))
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


def inbox_body(dovecot: Dovecot, mailbox: Mailbox, **fields: Any) -> dict[str, Any]:
    """The POST /api/v1/inboxes body for `mailbox` on `dovecot` (password sign-in, polled every second),
    with `fields` added or replaced."""
    return {
        "provider": "custom",
        "email": f"{mailbox.username}@example.test",
        "username": mailbox.username,
        "password": mailbox.password,
        "hostname": dovecot.host,
        "port": dovecot.imap_port,
        "poll_interval_seconds": 1,
    } | fields
