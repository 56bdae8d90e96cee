"""The token service against the fake OAuth2 server over TLS: Gmail and Microsoft refresh (msal), Microsoft
app-only (msal), rotated refresh tokens saved, access tokens cached, needs_reauth at once without a retry storm,
and transient provider trouble kept apart from needs_reauth.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from fastapi import FastAPI

from intake.config_api.oauth2_tokens import NeedsReauth, NotAnOAuth2Inbox, ProviderUnavailable, TokenService
from intake.config_api.runtime import Runtime
from intake.config_api.settings import ConfigApiSettings
from intake.shared.secrets import SecretBox
from tests.support.oauth2_inboxes import insert_oauth2_inbox, oauth2_settings
from tests.support.oauth2_server import FakeOAuth2Server


@pytest.fixture
def settings(settings: ConfigApiSettings, oauth2_server: FakeOAuth2Server) -> ConfigApiSettings:
    return oauth2_settings(settings, oauth2_server)


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@pytest.fixture
def tokens(runtime: Runtime) -> TokenService:
    return runtime.tokens


@pytest.fixture
def box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key)


async def _stored_refresh_token(db: asyncpg.Connection, box: SecretBox, inbox_id: int) -> str | None:
    value = await db.fetchval("SELECT oauth2_refresh_token_encrypted FROM config.inboxes WHERE id = $1", inbox_id)
    return None if value is None else box.decrypt(value)


async def _status(db: asyncpg.Connection, inbox_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT state, last_error FROM config.inbox_status WHERE inbox_id = $1", inbox_id)


@pytest.mark.parametrize(("provider", "tenant"), [("gmail", None), ("outlook", "contoso")])
async def test_refresh_saves_the_rotated_refresh_token(
    provider: str,
    tenant: str | None,
    tokens: TokenService,
    db: asyncpg.Connection,
    box: SecretBox,
    oauth2_server: FakeOAuth2Server,
) -> None:
    client = oauth2_server.register_client("alice")
    first = oauth2_server.issue_refresh_token(client)
    inbox_id = await insert_oauth2_inbox(db, box, client, provider=provider, tenant_id=tenant, refresh_token=first)
    updated_before = await db.fetchval("SELECT updated_at FROM config.inboxes WHERE id = $1", inbox_id)

    token = await tokens.access_token(inbox_id)

    assert token.username == "alice"
    assert oauth2_server.introspect(token.access_token)["active"] is True
    rotated = await _stored_refresh_token(db, box, inbox_id)
    assert rotated != first
    assert oauth2_server.live_refresh_tokens(client.client_id) == [rotated]
    # A rotation is not a settings change: the fetcher must not restart the inbox's loop for it.
    assert await db.fetchval("SELECT updated_at FROM config.inboxes WHERE id = $1", inbox_id) == updated_before
    if provider == "outlook":
        # msal found the token endpoint through the tenant's OpenID discovery document.
        assert any(r.path == "/contoso/v2.0/.well-known/openid-configuration" for r in oauth2_server.requests)
        assert oauth2_server.token_requests("refresh_token")[0].path == "/contoso/oauth2/v2.0/token"


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
async def test_public_client_without_a_secret_refreshes(
    provider: str, tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    # Outlook without a client secret goes through msal's PublicClientApplication.
    client = oauth2_server.register_client("kim", client_secret=None)
    inbox_id = await insert_oauth2_inbox(
        db, box, client, provider=provider, refresh_token=oauth2_server.issue_refresh_token(client)
    )

    token = await tokens.access_token(inbox_id)

    assert oauth2_server.introspect(token.access_token)["username"] == "kim"
    (request,) = oauth2_server.token_requests("refresh_token")
    assert "client_secret" not in request.form


async def test_access_token_is_cached_until_shortly_before_expiry(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("bob")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))

    first = await tokens.access_token(inbox_id)
    again = await asyncio.gather(*(tokens.access_token(inbox_id) for _ in range(5)))

    assert {t.access_token for t in again} == {first.access_token}
    assert len(oauth2_server.token_requests("refresh_token")) == 1


async def test_concurrent_first_requests_refresh_once(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    # With rotation, two refreshes racing with one refresh token would make the second invalid_grant.
    client = oauth2_server.register_client("carol")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))

    results = await asyncio.gather(*(tokens.access_token(inbox_id) for _ in range(8)))

    assert len({t.access_token for t in results}) == 1
    assert len(oauth2_server.token_requests("refresh_token")) == 1


async def test_short_lived_token_is_renewed_with_the_rotated_refresh_token(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    oauth2_server.access_token_lifetime = 1  # renewed at 90 % of its lifetime
    client = oauth2_server.register_client("dave")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))

    first = await tokens.access_token(inbox_id)
    await asyncio.sleep(1.0)
    second = await tokens.access_token(inbox_id)

    assert second.access_token != first.access_token
    presented = [r.form["refresh_token"] for r in oauth2_server.token_requests("refresh_token")]
    assert len(presented) == 2
    assert presented[1] != presented[0]  # the second refresh used the token saved after the first rotation
    assert await _stored_refresh_token(db, box, inbox_id) == oauth2_server.live_refresh_tokens(client.client_id)[0]


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
async def test_revoked_grant_needs_reauth_at_once_and_stops_asking(
    provider: str, tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("erin")
    inbox_id = await insert_oauth2_inbox(
        db, box, client, provider=provider, refresh_token=oauth2_server.issue_refresh_token(client)
    )
    oauth2_server.revoke(client.client_id)

    with pytest.raises(NeedsReauth, match="invalid_grant"):
        await tokens.access_token(inbox_id)
    status = await _status(db, inbox_id)
    assert status is not None
    assert status["state"] == "needs_reauth"
    assert "invalid_grant" in status["last_error"]
    assert "revoked" in status["last_error"]

    for _ in range(20):
        with pytest.raises(NeedsReauth, match="invalid_grant"):
            await tokens.access_token(inbox_id)
    assert len(oauth2_server.token_requests("refresh_token")) == 1


async def test_gmail_without_refresh_token_needs_reauth_without_asking(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("frank")
    inbox_id = await insert_oauth2_inbox(db, box, client, provider="gmail")

    with pytest.raises(NeedsReauth, match="no refresh token"):
        await tokens.access_token(inbox_id)

    assert oauth2_server.token_requests() == []
    status = await _status(db, inbox_id)
    assert status is not None
    assert status["state"] == "needs_reauth"


async def test_an_edit_of_the_inbox_earns_one_new_try(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("gina", client_secret="right")
    wrong = oauth2_server.register_client("gina", client_secret="wrong")
    wrong.client_id = client.client_id
    inbox_id = await insert_oauth2_inbox(db, box, wrong, provider="outlook", tenant_id="t1")
    with pytest.raises(NeedsReauth, match="invalid_client"):
        await tokens.access_token(inbox_id)

    await db.execute(
        "UPDATE config.inboxes SET oauth2_client_secret_encrypted = $2, updated_at = now() WHERE id = $1",
        inbox_id,
        box.encrypt("right"),
    )
    token = await tokens.access_token(inbox_id)

    assert oauth2_server.introspect(token.access_token)["username"] == "gina"


async def test_microsoft_app_only_uses_client_credentials(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("shared-desk")
    inbox_id = await insert_oauth2_inbox(db, box, client, provider="outlook", tenant_id="contoso")

    token = await tokens.access_token(inbox_id)

    (request,) = oauth2_server.token_requests()
    assert request.grant_type == "client_credentials"
    assert request.path == "/contoso/oauth2/v2.0/token"
    assert request.form["scope"].split() == ["https://outlook.office365.com/.default"]
    assert token.username == "shared-desk"
    assert await _stored_refresh_token(db, box, inbox_id) is None


async def test_outage_is_unavailable_not_needs_reauth(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("hank")
    inbox_id = await insert_oauth2_inbox(db, box, client, refresh_token=oauth2_server.issue_refresh_token(client))
    oauth2_server.outage_status = 503

    with pytest.raises(ProviderUnavailable):
        await tokens.access_token(inbox_id)
    assert await _status(db, inbox_id) is None

    oauth2_server.outage_status = None
    assert (await tokens.access_token(inbox_id)).username == "hank"


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
async def test_a_garbled_answer_is_unavailable_not_needs_reauth(
    provider: str, tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("jill")
    inbox_id = await insert_oauth2_inbox(
        db, box, client, provider=provider, refresh_token=oauth2_server.issue_refresh_token(client)
    )
    oauth2_server.garbled_token_answers = True

    with pytest.raises(ProviderUnavailable):
        await tokens.access_token(inbox_id)

    assert await _status(db, inbox_id) is None
    oauth2_server.garbled_token_answers = False
    assert (await tokens.access_token(inbox_id)).username == "jill"


async def test_unreachable_provider_is_unavailable(
    tokens: TokenService, db: asyncpg.Connection, box: SecretBox, oauth2_server: FakeOAuth2Server
) -> None:
    client = oauth2_server.register_client("ivy")
    inbox_id = await insert_oauth2_inbox(
        db, box, client, provider="outlook", refresh_token=oauth2_server.issue_refresh_token(client)
    )
    # Outlook's msal application has not been built yet: its discovery fails with the server gone.
    oauth2_server.outage_status = 503
    with pytest.raises(ProviderUnavailable):
        await tokens.access_token(inbox_id)
    assert await _status(db, inbox_id) is None


async def test_password_inbox_is_not_oauth2(tokens: TokenService, db: asyncpg.Connection) -> None:
    inbox_id = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption)
           VALUES ('yahoo', 'a@example.test', 'a', 'imap.mail.yahoo.com', 993, 'ssl') RETURNING id"""
    )
    with pytest.raises(NotAnOAuth2Inbox, match="password"):
        await tokens.access_token(inbox_id)
