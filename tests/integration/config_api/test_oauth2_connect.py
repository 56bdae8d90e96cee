"""The Connect flow over HTTP against the fake OAuth2 server: consent redirect with state and PKCE, the
callback storing the refresh token and clearing needs_reauth, and every refused state (forged, reused,
expired, missing), a declined consent and a refused code exchange, each saying why.
"""

from __future__ import annotations

import ssl
import urllib.parse

import asyncpg
import httpx
import pytest

from intake.config_api.oauth2 import pkce_challenge, state_digest
from intake.config_api.settings import ConfigApiSettings
from intake.shared.secrets import SecretBox
from tests.support.oauth2_inboxes import REDIRECT_URL, insert_oauth2_inbox, oauth2_settings
from tests.support.oauth2_server import FakeClient, FakeOAuth2Server

JSON = {"Accept": "application/json"}


@pytest.fixture
def settings(settings: ConfigApiSettings, oauth2_server: FakeOAuth2Server) -> ConfigApiSettings:
    return oauth2_settings(settings, oauth2_server)


@pytest.fixture
def box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key)


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


async def _consent(client: httpx.AsyncClient, fake: FakeOAuth2Server, inbox_id: int) -> dict[str, str]:
    """Follow the Connect link to the fake provider, which consents at once; the callback's query."""
    response = await client.get(f"/api/v1/inboxes/{inbox_id}/oauth2/authorize")
    assert response.status_code == 302, response.text
    context = ssl.create_default_context(cafile=str(fake.ca_file))
    async with httpx.AsyncClient(verify=context) as browser:
        consent = await browser.get(response.headers["location"])
    assert consent.status_code == 302
    location = consent.headers["location"]
    assert location.startswith(REDIRECT_URL + "?")
    return _query(location)


async def _callback(anonymous: httpx.AsyncClient, query: dict[str, str]) -> httpx.Response:
    return await anonymous.get("/api/v1/oauth2/callback", params=query, headers=JSON)


@pytest.mark.parametrize(("provider", "tenant"), [("gmail", None), ("outlook", "contoso")])
async def test_connect_stores_the_refresh_token_and_clears_needs_reauth(
    provider: str,
    tenant: str | None,
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    fake_client = oauth2_server.register_client("alice")
    inbox_id = await insert_oauth2_inbox(db, box, fake_client, provider=provider, tenant_id=tenant)
    await db.execute(
        """UPDATE config.inboxes SET oauth2_reauth_reason = 'revoked', oauth2_reauth_since = now() WHERE id = $1;""",
        inbox_id,
    )
    await db.execute(
        """INSERT INTO config.inbox_status (inbox_id, state, last_error, reported_at)
           VALUES ($1, 'needs_reauth', 'x', now())""",
        inbox_id,
    )

    query = await _consent(client, oauth2_server, inbox_id)
    response = await _callback(anonymous, query)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True,
        "inbox_id": inbox_id,
        "detail": f"Inbox {inbox_id} is connected; Intake will fetch its mail with the new authorisation.",
    }
    row = await db.fetchrow(
        "SELECT oauth2_refresh_token_encrypted, oauth2_reauth_since FROM config.inboxes WHERE id = $1", inbox_id
    )
    stored = box.decrypt(row["oauth2_refresh_token_encrypted"])
    assert stored in oauth2_server.live_refresh_tokens(fake_client.client_id)
    assert row["oauth2_reauth_since"] is None
    assert await db.fetchval("SELECT count(*) FROM config.inbox_status WHERE inbox_id = $1", inbox_id) == 0
    (exchange,) = oauth2_server.token_requests("authorization_code")
    assert exchange.form["redirect_uri"] == REDIRECT_URL
    if provider == "outlook":
        assert exchange.path == "/contoso/oauth2/v2.0/token"


async def test_consent_url_carries_state_pkce_and_scopes(
    client: httpx.AsyncClient, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    fake_client = oauth2_server.register_client("bob")
    inbox_id = await insert_oauth2_inbox(db, box, fake_client, provider="outlook", tenant_id="t1")

    response = await client.get(f"/api/v1/inboxes/{inbox_id}/oauth2/authorize", headers=JSON)

    assert response.status_code == 200
    url = response.json()["authorize_url"]
    assert url.startswith(f"{oauth2_server.https_url}/t1/oauth2/v2.0/authorize?")
    query = _query(url)
    assert query["scope"] == "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == REDIRECT_URL
    assert query["login_hint"] == "bob@example.test"
    # Stored hashed, bound to the inbox, with its PKCE verifier encrypted.
    row = await db.fetchrow(
        "SELECT inbox_id, code_verifier_encrypted, expires_at - created_at AS ttl FROM config.oauth2_states"
        " WHERE state_sha256 = $1",
        state_digest(query["state"]),
    )
    assert row["inbox_id"] == inbox_id
    assert pkce_challenge(box.decrypt(row["code_verifier_encrypted"])) == query["code_challenge"]
    assert row["ttl"].total_seconds() == 600
    assert query["state"].encode() not in b"".join(
        bytes(r[0]) for r in await db.fetch("SELECT state_sha256 FROM config.oauth2_states")
    )


async def test_authorize_needs_the_api_token(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/api/v1/inboxes/1/oauth2/authorize")).status_code == 401


async def test_authorize_of_a_password_inbox_is_404(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    inbox_id = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption)
           VALUES ('zoho', 'a@example.test', 'a', 'imap.zoho.com', 993, 'ssl') RETURNING id"""
    )
    response = await client.get(f"/api/v1/inboxes/{inbox_id}/oauth2/authorize")
    assert response.status_code == 404
    assert "password" in response.json()["detail"]
    assert (await client.get("/api/v1/inboxes/999/oauth2/authorize")).status_code == 404


async def _fresh_inbox(db: asyncpg.Connection, box: SecretBox, fake: FakeOAuth2Server) -> tuple[int, FakeClient]:
    fake_client = fake.register_client("carol")
    return await insert_oauth2_inbox(db, box, fake_client), fake_client


async def test_forged_state_is_refused(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    inbox_id, _ = await _fresh_inbox(db, box, oauth2_server)
    query = await _consent(client, oauth2_server, inbox_id)

    response = await _callback(anonymous, query | {"state": "forged-" + query["state"]})

    assert response.status_code == 400
    assert response.json()["error"] == "state_unknown"
    assert "not one this service issued" in response.json()["detail"]
    assert oauth2_server.token_requests() == []


async def test_reused_state_is_refused(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    inbox_id, _ = await _fresh_inbox(db, box, oauth2_server)
    query = await _consent(client, oauth2_server, inbox_id)
    assert (await _callback(anonymous, query)).status_code == 200

    response = await _callback(anonymous, query)

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "state_used",
        "detail": "this consent was already completed once (a state is single use); start again to reconnect",
        "inbox_id": inbox_id,
    }
    assert len(oauth2_server.token_requests("authorization_code")) == 1


async def test_expired_state_is_refused(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    inbox_id, _ = await _fresh_inbox(db, box, oauth2_server)
    query = await _consent(client, oauth2_server, inbox_id)
    await db.execute("UPDATE config.oauth2_states SET expires_at = now() - interval '1 second'")

    response = await _callback(anonymous, query)

    assert response.status_code == 400
    assert response.json()["error"] == "state_expired"
    assert oauth2_server.token_requests() == []


async def test_missing_state_is_refused(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/api/v1/oauth2/callback", params={"code": "x"}, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "state_missing"


async def test_declined_consent_says_so_and_spends_the_state(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    inbox_id, _ = await _fresh_inbox(db, box, oauth2_server)
    oauth2_server.deny_next_authorize = "access_denied"
    query = await _consent(client, oauth2_server, inbox_id)

    response = await _callback(anonymous, query)

    assert response.status_code == 400
    assert response.json()["error"] == "provider_error"
    assert response.json()["detail"] == "the provider did not grant access: access_denied (The user declined.)"
    assert (await _callback(anonymous, query)).json()["error"] == "state_used"


async def test_refused_code_exchange_is_a_provider_error(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    inbox_id, _ = await _fresh_inbox(db, box, oauth2_server)
    query = await _consent(client, oauth2_server, inbox_id)

    response = await _callback(anonymous, query | {"code": "code-never-issued"})

    assert response.status_code == 502
    assert response.json()["error"] == "provider_error"
    assert response.json()["detail"].startswith("the provider refused the token request: invalid_grant")
    stored = await db.fetchval("SELECT oauth2_refresh_token_encrypted FROM config.inboxes WHERE id = $1", inbox_id)
    assert stored is None


async def test_browser_gets_a_small_page(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    inbox_id, _ = await _fresh_inbox(db, box, oauth2_server)
    query = await _consent(client, oauth2_server, inbox_id)

    ok = await anonymous.get("/api/v1/oauth2/callback", params=query, headers={"Accept": "text/html"})
    again = await anonymous.get("/api/v1/oauth2/callback", params=query, headers={"Accept": "text/html"})

    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/html")
    assert "<h1>Inbox connected</h1>" in ok.text
    # Back to the console's page of the inbox, with the result (a page this site starts: the
    # SameSite=Strict session cookie goes along).
    assert f'url=/inboxes/{inbox_id}?oauth2=connected"' in ok.text
    assert f'href="/inboxes/{inbox_id}?oauth2=connected"' in ok.text
    assert again.status_code == 400
    assert "a state is single use" in again.text
    assert f"/inboxes/{inbox_id}?oauth2=failed&amp;error=state_used" in again.text
    assert again.headers["content-security-policy"] == "default-src 'none'"
