"""OAuth2 inboxes for the tests: config-api settings pointed at the fake OAuth2 server, and inbox rows
inserted with their encrypted client secret and refresh token as config-api would store them.
"""

from __future__ import annotations

import asyncpg

from intake.config_api.settings import ConfigApiSettings
from intake.shared.secrets import SecretBox
from tests.support.oauth2_server import FakeClient, FakeOAuth2Server

REDIRECT_URL = "https://intake.example/api/v1/oauth2/callback"


def oauth2_settings(settings: ConfigApiSettings, fake: FakeOAuth2Server) -> ConfigApiSettings:
    """`settings` with every provider endpoint at the fake server, whose CA is trusted."""
    return settings.model_copy(
        update={
            "oauth2_google_authorize_url": fake.google_authorize_url,
            "oauth2_google_token_url": fake.google_token_url,
            "oauth2_microsoft_authority": fake.microsoft_authority,
            "oauth2_ca_file": fake.ca_file,
            "oauth2_redirect_url": REDIRECT_URL,
        }
    )


async def insert_oauth2_inbox(
    db: asyncpg.Connection,
    box: SecretBox,
    client: FakeClient,
    *,
    provider: str = "gmail",
    refresh_token: str | None = None,
    tenant_id: str | None = None,
    hostname: str = "imap.gmail.com",
    port: int = 993,
    encryption: str = "ssl",
) -> int:
    """An OAuth2 inbox row logging in as the client's user; returns its id."""
    inbox_id: int = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption, auth,
                                       oauth2_client_id, oauth2_tenant_id, oauth2_client_secret_encrypted,
                                       oauth2_refresh_token_encrypted, poll_interval_seconds)
           VALUES ($1, $2, $3, $4, $5, $6, 'oauth2', $7, $8, $9, $10, 1) RETURNING id""",
        provider,
        f"{client.username}@example.test",
        client.username,
        hostname,
        port,
        encryption,
        client.client_id,
        tenant_id,
        box.encrypt(client.client_secret) if client.client_secret else None,
        box.encrypt(refresh_token) if refresh_token else None,
    )
    return inbox_id
