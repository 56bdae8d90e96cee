"""OAuth2 end to end: config-api and the fetcher as real processes, Dovecot validating XOAUTH2 tokens against
the fake OAuth2 server's introspection endpoint.

The inbox is connected through the API's Connect flow (authorize → the fake provider's consent → the
callback), a message appended to the mailbox is fetched with an access token the fetcher got from
config-api; then the person revokes the app's access and the access token runs out: the inbox shows
`needs_reauth` through the API, and however often the fetcher asks again, the provider sees one refused
refresh, no storm. No client secret, service token, authorization code, access or refresh token (every
one the provider issued, rotated ones included) appears in any log line or in the database in clear.
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from intake.shared.secrets import SecretBox
from tests.e2e.messages import message
from tests.e2e.stored_text import database_text
from tests.support.api import Api
from tests.support.dovecot import Dovecot, running_dovecot
from tests.support.oauth2_server import FakeOAuth2Server
from tests.support.processes import Stack, wait_until

TIMEOUT = 90.0
# Short-lived access tokens, so "the access token expires" happens within the test.
ACCESS_TOKEN_SECONDS = 6


@pytest.fixture
def oauth2_dovecot_for(oauth2_server: FakeOAuth2Server) -> Iterator[Dovecot]:
    """A Dovecot whose oauth2 passdb asks the fake provider's introspection endpoint about each token."""
    with running_dovecot(oauth2_introspection_url=oauth2_server.introspection_url) as server:
        yield server


async def _insert_inbox(database_url: str, secret_key: str, dovecot: Dovecot, username: str, client_id: str) -> int:
    # A gmail inbox whose IMAP server is the test's Dovecot: the API keeps gmail's host fixed, so the row is
    # written directly, inactive until it is connected.
    conn = await asyncpg.connect(database_url)
    try:
        inbox_id: int = await conn.fetchval(
            """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption, auth,
                                           oauth2_client_id, oauth2_client_secret_encrypted, active,
                                           poll_interval_seconds)
               VALUES ('gmail', $1, $2, $3, $4, 'none', 'oauth2', $5, $6, false, 1) RETURNING id""",
            f"{username}@example.test",
            username,
            dovecot.host,
            dovecot.imap_port,
            client_id,
            SecretBox(secret_key).encrypt("client-secret"),
        )
        return inbox_id
    finally:
        await conn.close()


async def _activate(database_url: str, inbox_id: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE config.inboxes SET active = true, updated_at = now() WHERE id = $1", inbox_id)
    finally:
        await conn.close()


def _connect(api: Api, fake: FakeOAuth2Server, inbox_id: int) -> dict[str, Any]:
    """The Connect button: authorize through the API, consent at the provider, back to the callback."""
    authorize = api.http.get(f"/api/v1/inboxes/{inbox_id}/oauth2/authorize", headers={"Accept": "application/json"})
    assert authorize.status_code == 200, authorize.text
    with httpx.Client(verify=ssl.create_default_context(cafile=str(fake.ca_file))) as browser:
        consent = browser.get(authorize.json()["authorize_url"])
    assert consent.status_code == 302
    callback = urllib.parse.urlsplit(consent.headers["location"])
    with httpx.Client(base_url=api.http.base_url) as anonymous:
        done = anonymous.get(f"{callback.path}?{callback.query}", headers={"Accept": "application/json"})
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    return body


def _refused_token_answers(stack: Stack) -> int:
    return stack.service("config-api").log().count('/access-token HTTP/1.1\\" 409')


async def test_xoauth2_fetch_then_revocation_needs_reauth_without_a_storm(
    stack: Stack,
    oauth2_api: Api,
    oauth2_server: FakeOAuth2Server,
    oauth2_dovecot_for: Dovecot,
    database_url: str,
    secret_key: str,
) -> None:
    dovecot = oauth2_dovecot_for
    mailbox = dovecot.new_user("oauth")
    oauth2_server.access_token_lifetime = ACCESS_TOKEN_SECONDS
    client = oauth2_server.register_client(mailbox.username)
    inbox_id = await _insert_inbox(database_url, secret_key, dovecot, mailbox.username, client.client_id)

    assert _connect(oauth2_api, oauth2_server, inbox_id)["ok"] is True
    assert len(oauth2_server.live_refresh_tokens(client.client_id)) == 1
    await _activate(database_url, inbox_id)
    stack.start("fetcher")

    raw, message_id = message("Printer on fire", "It smokes.")
    mailbox.append(raw)
    rows = wait_until(
        lambda: [r for r in oauth2_api.email_log(inbox_id) if r["message_id"] == message_id],
        timeout=TIMEOUT,
        what="the message fetched over XOAUTH2",
        explain=lambda: stack.logs() + dovecot.log_tail(),
    )
    assert rows[0]["subject"] == "Printer on fire"
    introspected = [r for r in oauth2_server.requests if r.path == "/introspect"]
    assert introspected, "Dovecot never asked the provider about a token"
    assert oauth2_api.get(f"/api/v1/inboxes/{inbox_id}")["status"]["state"] != "needs_reauth"

    # The person removes the app's access; the access token the fetcher holds runs out.
    oauth2_server.revoke(client.client_id)
    wait_until(
        lambda: not oauth2_server.active_access_tokens(client.client_id),
        timeout=TIMEOUT,
        what="the access tokens to expire",
    )
    dovecot.kick(mailbox.username)  # the fetcher must sign in again

    status = wait_until(
        lambda: (s := oauth2_api.get(f"/api/v1/inboxes/{inbox_id}")["status"])["state"] == "needs_reauth" and s,
        timeout=TIMEOUT,
        what="the inbox to show needs_reauth",
        explain=stack.logs,
    )
    assert "invalid_grant" in (status.get("last_error") or ""), status

    # However often the fetcher asks again (here: a restarted fetcher), config-api answers needs_reauth
    # from its mark and the provider is not asked again.
    refused = wait_until(lambda: _refused_token_answers(stack), timeout=TIMEOUT, what="a 409", explain=stack.logs)
    stack.service("fetcher").stop()
    stack.service("fetcher").restart_and_wait()
    wait_until(
        lambda: _refused_token_answers(stack) > refused,
        timeout=TIMEOUT,
        what="the restarted fetcher to ask again",
        explain=stack.logs,
    )
    refused_refreshes = [r for r in oauth2_server.token_requests("refresh_token") if r.status != 200]
    assert len(refused_refreshes) == 1, refused_refreshes
    assert oauth2_api.get(f"/api/v1/inboxes/{inbox_id}")["status"]["state"] == "needs_reauth"

    logs = "\n".join(service.log() for service in stack.services.values())
    stored = await database_text(database_url, frozenset({"config", "fetcher"}))
    issued = oauth2_server.issued_secrets(client.client_id)  # codes, access and refresh tokens, rotated ones too
    assert any(token.startswith("rt-") for token in issued)
    assert any(token.startswith("at-") for token in issued)
    secrets = [
        client.client_secret,
        stack.env["INTAKE_SERVICE_TOKEN"],
        *issued,
        *[r.form.get("refresh_token") for r in oauth2_server.requests],
        *[r.form.get("token") for r in oauth2_server.requests if r.path == "/introspect"],  # access tokens
    ]
    for secret in filter(None, secrets):
        assert secret not in logs
        assert secret not in stored, "a secret in the database in clear"
        assert secret.encode().hex() not in stored, "a secret in a bytea column in clear"
