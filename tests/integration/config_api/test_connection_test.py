"""The Test connection action against a real Dovecot: each failing step named, in words a person understands.

Saved inboxes are written straight into config.inboxes where the inbox API does not accept their
settings yet (STARTTLS, OAuth2), so each step can be tried whatever the inbox API supports.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from intake.config_api.connection_test import LoginUnavailable, saved_target
from intake.shared.secrets import SecretBox
from tests.support.dovecot import HOST, Dovecot, Mailbox, _free_port


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    return dovecot.new_user()


def settings_for(dovecot: Dovecot, mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provider": "custom",
        "email": f"{mailbox.username}@example.com",
        "username": mailbox.username,
        "password": mailbox.password,
        "hostname": "localhost",
        "port": dovecot.imaps_port,
        "encryption": "ssl",
        "ca_certificate": dovecot.ca_pem,
    }
    return body | changes


async def tried(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/inboxes/test", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert set(result) == {"ok", "stage", "detail"}
    return result


async def test_working_settings_pass_every_step(client: httpx.AsyncClient, dovecot: Dovecot, mailbox: Mailbox) -> None:
    result = await tried(client, settings_for(dovecot, mailbox))
    assert result["ok"] is True
    assert result["stage"] == "select"
    assert "over TLS" in result["detail"]
    plain = await tried(client, settings_for(dovecot, mailbox, port=dovecot.imap_port, encryption="none"))
    assert (plain["ok"], plain["stage"]) == (True, "select")


async def test_host_not_found(client: httpx.AsyncClient, dovecot: Dovecot, mailbox: Mailbox) -> None:
    # .invalid never resolves (RFC 6761 §6.4).
    result = await tried(client, settings_for(dovecot, mailbox, hostname="imap.intake-test.invalid"))
    assert (result["ok"], result["stage"]) == (False, "connect")
    assert result["detail"].startswith("host not found: 'imap.intake-test.invalid'")


async def test_connection_refused(client: httpx.AsyncClient, dovecot: Dovecot, mailbox: Mailbox) -> None:
    result = await tried(client, settings_for(dovecot, mailbox, hostname=HOST, port=_free_port()))
    assert (result["ok"], result["stage"]) == (False, "connect")
    assert result["detail"].startswith("connection refused: nothing accepts connections on 127.0.0.1:")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel accepts and nobody ever answers."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        yield listener.getsockname()[1]


async def test_timed_out(
    client: httpx.AsyncClient, app: FastAPI, dovecot: Dovecot, mailbox: Mailbox, silent_port: int
) -> None:
    app.state.runtime.connection_test_seconds = 0.5
    result = await tried(client, settings_for(dovecot, mailbox, hostname=HOST, port=silent_port, encryption="none"))
    assert (result["ok"], result["stage"]) == (False, "connect")
    assert result["detail"].startswith("timed out waiting for the server's greeting: no answer within 0.5 seconds")


async def test_certificate_not_trusted(client: httpx.AsyncClient, dovecot: Dovecot, mailbox: Mailbox) -> None:
    result = await tried(client, settings_for(dovecot, mailbox, ca_certificate=None))
    assert (result["ok"], result["stage"]) == (False, "tls")
    assert result["detail"].startswith("certificate not trusted: the server's certificate is not signed by a trusted")
    assert "ca_certificate" in result["detail"]


async def test_tls_on_a_plain_port(client: httpx.AsyncClient, dovecot: Dovecot, mailbox: Mailbox) -> None:
    result = await tried(client, settings_for(dovecot, mailbox, port=dovecot.imap_port))
    assert (result["ok"], result["stage"]) == (False, "tls")
    assert result["detail"].startswith(f"no TLS on port {dovecot.imap_port}: the server did not answer with TLS")


async def test_wrong_password(client: httpx.AsyncClient, dovecot: Dovecot, mailbox: Mailbox) -> None:
    wrong = "not-the-password-" + mailbox.password
    result = await tried(client, settings_for(dovecot, mailbox, password=wrong))
    assert (result["ok"], result["stage"]) == (False, "login")
    assert result["detail"].startswith(f"wrong password: the server refused the login for {mailbox.username!r}")
    assert wrong not in result["detail"]


async def test_folder_missing(client: httpx.AsyncClient, dovecot: Dovecot, mailbox: Mailbox) -> None:
    result = await tried(client, settings_for(dovecot, mailbox, directory="Support/Tickets"))
    assert (result["ok"], result["stage"]) == (False, "select")
    assert result["detail"].startswith("folder missing: there is no folder 'Support/Tickets' in this mailbox")


async def test_invalid_settings_are_field_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/inboxes/test", json={"provider": "custom", "email": "a@example.com"})
    assert response.status_code == 422
    fields = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert ("body", "hostname") in fields


# -- saved inboxes ------------------------------------------------------------------------------


async def save_inbox(
    db: asyncpg.Connection, secret_key: str, *, host: str, port: int, encryption: str, username: str,
    password: str | None, ca: str | None = None, auth: str = "password", directory: str = "INBOX",
) -> int:  # fmt: skip
    encrypted = SecretBox(secret_key).encrypt(password) if password is not None else None
    inbox_id: int = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, password_encrypted, hostname, port, directory,
               encryption, ca_certificate, auth)
           VALUES ('custom', $1, $1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        username,
        encrypted,
        host,
        port,
        directory,
        encryption,
        ca,
        auth,
    )
    return inbox_id


async def test_saved_inbox_over_starttls(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    inbox_id = await save_inbox(
        db, secret_key, host="localhost", port=dovecot.imap_port, encryption="tls", username=mailbox.username,
        password=mailbox.password, ca=dovecot.ca_pem,
    )  # fmt: skip
    response = await client.post(f"/api/v1/inboxes/{inbox_id}/test")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True,
        "stage": "select",
        "detail": f"connected to localhost:{dovecot.imap_port} upgraded to TLS with STARTTLS,"
        f" logged in as {mailbox.username!r} and opened folder 'INBOX'",
    }


async def test_saved_inbox_where_starttls_is_not_offered(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str, dovecot_without_starttls: Dovecot
) -> None:
    mailbox = dovecot_without_starttls.new_user()
    inbox_id = await save_inbox(
        db, secret_key, host=HOST, port=dovecot_without_starttls.imap_port, encryption="tls",
        username=mailbox.username, password=mailbox.password,
    )  # fmt: skip
    result = (await client.post(f"/api/v1/inboxes/{inbox_id}/test")).json()
    assert (result["ok"], result["stage"]) == (False, "tls")
    assert result["detail"].startswith(
        f"STARTTLS not offered: the server on port {dovecot_without_starttls.imap_port} does not offer STARTTLS"
    )


async def test_saved_inbox_with_a_wrong_password(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    inbox_id = await save_inbox(
        db, secret_key, host=HOST, port=dovecot.imap_port, encryption="none", username=mailbox.username,
        password="wrong",
    )  # fmt: skip
    result = (await client.post(f"/api/v1/inboxes/{inbox_id}/test")).json()
    assert (result["ok"], result["stage"]) == (False, "login")


async def test_saved_oauth2_inbox_of_a_provider_without_oauth2(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    inbox_id = await save_inbox(
        db, secret_key, host="localhost", port=dovecot.imaps_port, encryption="ssl", username=mailbox.username,
        password=None, ca=dovecot.ca_pem, auth="oauth2",
    )  # fmt: skip
    result = (await client.post(f"/api/v1/inboxes/{inbox_id}/test")).json()
    assert (result["ok"], result["stage"]) == (False, "login")  # connect and TLS passed
    assert result["detail"].startswith("OAuth2 sign-in cannot be tried: ")
    assert "OAuth2 works for gmail and outlook" in result["detail"]


async def test_saved_oauth2_inbox_that_needs_a_new_connect(app: FastAPI, db: asyncpg.Connection) -> None:
    # A Gmail inbox's host is imap.gmail.com, so only the login step is asked for here: no connection is made.
    inbox_id = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption, auth, oauth2_client_id,
               oauth2_reauth_reason, oauth2_reauth_since, updated_at)
           VALUES ('gmail', 'desk@example.com', 'desk@example.com', 'imap.gmail.com', 993, 'ssl', 'oauth2',
                   'client-1', 'the refresh token was revoked', now(), now() - interval '1 minute')
           RETURNING id"""
    )
    runtime = app.state.runtime
    target = await saved_target(runtime.pool, runtime.secret_box, runtime.tokens, inbox_id)
    with pytest.raises(LoginUnavailable) as raised:
        await target.login()
    assert raised.value.reason == (
        "OAuth2 sign-in needs the inbox to be connected again (Connect): the refresh token was revoked"
    )


async def test_unknown_saved_inbox_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/inboxes/999/test")
    assert response.status_code == 404
    assert response.json() == {"detail": "no inbox with id 999"}
