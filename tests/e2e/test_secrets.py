"""Secrets stay secret across the whole stack (DESIGN §1): an inbox password, an OAuth2 client secret and
an API token set through the API, and the service token, appear in no response, in no log line of any of
the three services (at debug level), and nowhere in the database in clear; the fetcher still logs in with
the password. Also: the inbox's health comes from the real fetcher's `inbox.status`.
"""

from __future__ import annotations

import asyncio
import secrets

import httpx

from tests.e2e.messages import message
from tests.e2e.stored_text import database_text
from tests.support.api import inbox_body
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack, wait_until

TIMEOUT = 60.0


class RecordingApi:
    """An HTTP client for config-api that keeps the text of every response."""

    def __init__(self, base_url: str, token: str) -> None:
        self.responses: list[str] = []
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            event_hooks={"response": [self._record]},
        )

    def _record(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(f"{response.headers}\n{response.text}")

    def ready(self) -> bool:
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False


def test_no_secret_leaks_anywhere(stack: Stack, dovecot: Dovecot, database_url: str) -> None:
    stack.env["INTAKE_LOG_LEVEL"] = "debug"
    mailbox = dovecot.new_user("secrets")
    client_secret = "client-secret-" + secrets.token_urlsafe(12)
    other_password = "other-password-" + secrets.token_urlsafe(12)
    stack.start("config-api")
    api = RecordingApi(f"http://127.0.0.1:{stack.env['INTAKE_API_PORT']}", stack.env["INTAKE_ADMIN_TOKEN"])
    wait_until(api.ready, timeout=TIMEOUT, what="config-api /readyz", explain=stack.logs)

    # An API token, used for everything below.
    created = api.http.post("/api/v1/tokens", json={"name": "e2e"})
    assert created.status_code == 201, created.text
    api_token = created.json()["token"]
    api.http.headers["Authorization"] = f"Bearer {api_token}"

    body = inbox_body(dovecot, mailbox, encryption="tls", ca_certificate=dovecot.certificates.ca_pem)
    inbox = api.http.post("/api/v1/inboxes", json=body).json()
    assert inbox["password_set"] is True, inbox
    patched = api.http.patch(f"/api/v1/inboxes/{inbox['id']}", json={"oauth2": {"client_secret": client_secret}})
    assert patched.json()["client_secret_set"] is True
    # Rejected requests carrying secrets: nothing of them may come back or reach a log.
    assert api.http.post("/api/v1/inboxes", json=body | {"port": "imap"}).status_code == 422
    assert (
        api.http.post("/api/v1/inboxes", json=body | {"ignored_senders": [f"{other_password} @x"]}).status_code == 422
    )
    assert (
        api.http.patch(f"/api/v1/inboxes/{inbox['id']}", json={"password": other_password, "port": 0}).status_code
        == 422
    )
    second = api.http.post("/api/v1/inboxes", json=body | {"email": "other@example.test", "active": False}).json()
    assert api.http.patch(f"/api/v1/inboxes/{second['id']}", json={"password": other_password}).status_code == 200

    # The fetcher decrypts the password and logs in: the message becomes an issue, the inbox reports ok.
    stack.start("fetcher", "ingestor")
    raw, _ = message("Secret-free subject", "Body.")
    mailbox.append(raw)

    def issue_created() -> bool:
        rows = api.http.get("/api/v1/email-log", params={"inbox_id": inbox["id"]}).json()["items"]
        return bool(rows) and rows[0]["outcome"] == "issue_created"

    wait_until(issue_created, timeout=TIMEOUT, what="the message to become an issue", explain=stack.logs)

    def healthy() -> dict[str, object] | None:
        status: dict[str, object] = api.http.get(f"/api/v1/inboxes/{inbox['id']}").json()["status"]
        return status if status["state"] == "ok" else None

    status = wait_until(healthy, timeout=TIMEOUT, what="the inbox to report ok", explain=stack.logs)
    assert status["last_success_at"] is not None
    assert status["consecutive_failures"] == 0
    api.http.get("/api/v1/inboxes")
    api.http.get("/api/v1/tokens")
    api.http.close()

    statuses = stack.stop_all()
    assert all(code == 0 for code in statuses.values()), statuses
    logs = {name: service.log() for name, service in stack.services.items()}
    assert all('"level": "debug"' in text for text in logs.values()), "debug logging is on in every service"
    stored = asyncio.run(database_text(database_url))
    secret_values = {
        "inbox password": mailbox.password,
        "other password": other_password,
        "client secret": client_secret,
        "api token": api_token,
        "admin token": stack.env["INTAKE_ADMIN_TOKEN"],
        "secret key": stack.env["INTAKE_SECRET_KEY"],
        "service token": stack.env["INTAKE_SERVICE_TOKEN"],
    }
    for what, value in secret_values.items():
        for name, text in logs.items():
            assert value not in text, f"{what} in the {name} log"
        if what != "api token":  # the create response is the one place a new token is shown, once
            assert not any(value in response for response in api.responses), f"{what} in a response"
        assert value not in stored, f"{what} in the database in clear"
        assert value.encode().hex() not in stored, f"{what} in a bytea column in clear"
    token_responses = [response for response in api.responses if api_token in response]
    assert len(token_responses) == 1
