"""POST /internal/v1/inboxes/{id}/access-token, the fetcher's contract, through a real uvicorn server: each status
(200, 401, 404, 409, 503), and no refresh token, client secret, code or state in any response or log line.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from intake.config_api.settings import ConfigApiSettings
from intake.shared.secrets import SecretBox
from tests.support.oauth2_inboxes import insert_oauth2_inbox, oauth2_settings
from tests.support.oauth2_server import FakeOAuth2Server


@pytest.fixture
def settings(settings: ConfigApiSettings, oauth2_server: FakeOAuth2Server) -> ConfigApiSettings:
    return oauth2_settings(settings, oauth2_server)


@pytest.fixture
def box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key)


@pytest.fixture
async def fetcher(served: str, service_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client presenting the service token, as the fetcher does."""
    async with httpx.AsyncClient(base_url=served, headers={"Authorization": f"Bearer {service_token}"}) as client:
        yield client


def _path(inbox_id: int) -> str:
    return f"/internal/v1/inboxes/{inbox_id}/access-token"


async def test_200_gives_a_short_lived_token_only(
    fetcher: httpx.AsyncClient, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("alice")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))

    response = await fetcher.post(_path(inbox_id))

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_at", "username"}
    assert body["username"] == "alice"
    assert oauth2_server.introspect(body["access_token"])["active"] is True
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.tzinfo is not None
    assert timedelta(minutes=50) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert response.headers["cache-control"] == "no-store"


async def test_200_for_an_inbox_id_beyond_32_bits(
    fetcher: httpx.AsyncClient, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    # The refresh lock is keyed by the inbox id, a bigint: it must not be cast to a 32-bit int.
    await db.execute("ALTER TABLE config.inboxes ALTER COLUMN id RESTART WITH 6442450941")
    client = oauth2_server.register_client("dave")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))
    assert inbox_id > 2**32

    response = await fetcher.post(_path(inbox_id))

    assert response.status_code == 200, response.text
    assert oauth2_server.introspect(response.json()["access_token"])["active"] is True


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-of-some-length", "admin"])
async def test_401_without_the_service_token(
    header: str | None, served: str, admin_token: str, db: asyncpg.Connection
) -> None:
    headers = {} if header is None else {"Authorization": f"Bearer {admin_token}" if header == "admin" else header}
    async with httpx.AsyncClient(base_url=served, headers=headers) as client:
        response = await client.post(_path(1))
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "a valid service token is required"}


async def test_service_token_is_not_an_api_token(served: str, service_token: str) -> None:
    async with httpx.AsyncClient(base_url=served, headers={"Authorization": f"Bearer {service_token}"}) as client:
        assert (await client.get("/api/v1/inboxes")).status_code == 401


async def test_404_unknown_or_not_oauth2(fetcher: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    password_inbox = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption)
           VALUES ('yahoo', 'a@example.test', 'a', 'imap.mail.yahoo.com', 993, 'ssl') RETURNING id"""
    )
    unknown = await fetcher.post(_path(password_inbox + 1))
    not_oauth2 = await fetcher.post(_path(password_inbox))

    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "detail": f"no inbox with id {password_inbox + 1}"}
    assert not_oauth2.status_code == 404
    assert not_oauth2.json()["error"] == "not_found"
    assert "password" in not_oauth2.json()["detail"]


async def test_409_needs_reauth_and_no_storm(
    fetcher: httpx.AsyncClient, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("bob")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))
    oauth2_server.revoke(client.client_id)

    answers = [await fetcher.post(_path(inbox_id)) for _ in range(10)]

    assert {a.status_code for a in answers} == {409}
    assert answers[0].json() == {
        "error": "needs_reauth",
        "detail": "the provider refused the token request: invalid_grant (Token has been expired or revoked.)",
    }
    assert len(oauth2_server.token_requests()) == 1
    assert await db.fetchval("SELECT state FROM config.inbox_status WHERE inbox_id = $1", inbox_id) == "needs_reauth"


async def test_503_when_the_provider_is_down_then_200(
    fetcher: httpx.AsyncClient, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("carol")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))
    oauth2_server.outage_status = 503

    down = await fetcher.post(_path(inbox_id))

    assert down.status_code == 503
    assert down.json()["error"] == "provider_unavailable"
    oauth2_server.outage_status = None
    assert (await fetcher.post(_path(inbox_id))).status_code == 200


def _quiet_get(url: str, headers: dict[str, str], ca_file: str | None = None) -> tuple[int, str]:
    """GET with http.client, which logs nothing: the test's own requests must not put codes into the capture."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        connection = http.client.HTTPSConnection(parts.netloc, context=context, timeout=30)
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        connection.close()


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
async def test_no_secret_in_any_log_line(
    provider: str,
    captured_log: io.StringIO,
    served: str,
    fetcher: httpx.AsyncClient,
    admin_token: str,
    service_token: str,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    client = oauth2_server.register_client("dave", client_secret="client-secret-7f3a9c")
    inbox_id = await insert_oauth2_inbox(db, box, client, provider=provider, tenant_id="contoso")
    oauth2_server.access_token_lifetime = 1
    bearer = {"Authorization": f"Bearer {admin_token}"}
    _, consent_url = await asyncio.to_thread(_quiet_get, f"{served}/api/v1/inboxes/{inbox_id}/oauth2/authorize", bearer)
    _, back = await asyncio.to_thread(_quiet_get, consent_url, {}, str(oauth2_server.ca_file))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    callback = f"{served}/api/v1/oauth2/callback?{urllib.parse.urlencode(query)}"
    assert (await asyncio.to_thread(_quiet_get, callback, {}))[0] == 200
    # The fetcher's answers hold access tokens: only their status is logged by the test's client.
    first = (await fetcher.post(_path(inbox_id))).json()["access_token"]
    second = (await fetcher.post(_path(inbox_id))).json()["access_token"]  # expired at once: a rotation
    secrets = [
        client.client_secret,
        query["code"],
        query["state"],
        first,
        second,
        service_token,
        admin_token,
        *[r.form["refresh_token"] for r in oauth2_server.token_requests("refresh_token")],
        *oauth2_server.live_refresh_tokens(client.client_id),
    ]
    assert len(oauth2_server.token_requests("refresh_token")) >= 1

    output = captured_log.getvalue()
    assert "GET /api/v1/oauth2/callback?code=[redacted]&state=[redacted]" in output
    assert '"message": "oauth2 rotated refresh token saved"' in output
    for secret in secrets:
        assert secret
        assert secret not in output
