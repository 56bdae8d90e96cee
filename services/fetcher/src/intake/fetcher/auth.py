"""How an inbox authenticates: one strategy object per auth mode, built from its settings.

`password`: the stored password, decrypted only here and only into the strategy. `oauth2`: SASL
XOAUTH2 with a short-lived access token that config-api (the only holder of refresh tokens and
client secrets, DESIGN §2) hands out over its internal endpoint:
`POST {INTAKE_CONFIG_API_URL}/internal/v1/inboxes/{id}/access-token` with
`Authorization: Bearer {INTAKE_SERVICE_TOKEN}` → 200 `{access_token, expires_at, username}`,
409 needs_reauth, 404 unknown inbox or not oauth2, 401 wrong service token, 502/503 transient.
Nothing here logs a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from intake.fetcher.errors import AccessTokenError, AccessTokenRefused, NeedsReauth
from intake.fetcher.inboxes import WatchedInbox
from intake.shared.imap_client import Authenticator, ImapClient, PasswordLogin
from intake.shared.imap_errors import ImapAuthError, ImapSettingsError
from intake.shared.secrets import SecretBox, SecretDecryptionError

# A cached token is used until this long before it expires.
TOKEN_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class AccessToken:
    access_token: str = field(repr=False)
    expires_at: datetime
    username: str

    def fresh(self, now: datetime) -> bool:
        return now < self.expires_at - TOKEN_MARGIN


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


class AccessTokens:
    """One inbox's access tokens from config-api, cached until TOKEN_MARGIN before they expire."""

    def __init__(self, config_api_url: str, service_token: str | None, inbox_id: int, timeout: float) -> None:
        self._url = f"{config_api_url.rstrip('/')}/internal/v1/inboxes/{inbox_id}/access-token"
        self._service_token = service_token
        self._timeout = timeout
        self._cached: AccessToken | None = None

    def forget(self) -> None:
        """Drop the cached token (the IMAP server refused it)."""
        self._cached = None

    async def get(self) -> AccessToken:
        now = datetime.now(UTC)
        if self._cached is not None and self._cached.fresh(now):
            return self._cached
        self._cached = await self._request()
        return self._cached

    async def _request(self) -> AccessToken:
        if not self._service_token:
            raise AccessTokenRefused("INTAKE_SERVICE_TOKEN is not set")
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(self._url, headers={"Authorization": f"Bearer {self._service_token}"})
        except httpx.HTTPError as error:
            raise AccessTokenError(f"config-api cannot be reached: {type(error).__name__}") from None
        status = response.status_code
        if status == 200:
            return self._parse(response)
        if status == 409:
            raise NeedsReauth(_detail(response))
        if status == 401:
            raise AccessTokenRefused("config-api refused the fetcher's INTAKE_SERVICE_TOKEN")
        if status == 404:
            raise AccessTokenRefused(f"config-api has no OAuth2 sign-in for this inbox: {_detail(response)}")
        raise AccessTokenError(f"config-api answered {status}: {_detail(response)}")

    @staticmethod
    def _parse(response: httpx.Response) -> AccessToken:
        try:
            body = response.json()
            expires_at = datetime.fromisoformat(body["expires_at"])
            token = AccessToken(str(body["access_token"]), expires_at, str(body["username"]))
        except (ValueError, KeyError, TypeError):
            raise AccessTokenError("config-api answered with an unreadable access token") from None
        if expires_at.tzinfo is None:
            token = AccessToken(token.access_token, expires_at.replace(tzinfo=UTC), token.username)
        return token


@dataclass(frozen=True)
class OAuth2Login:
    """XOAUTH2 with a token from config-api; a token the server refuses is not used again."""

    tokens: AccessTokens

    async def authenticate(self, client: ImapClient) -> None:
        token = await self.tokens.get()
        try:
            await client.xoauth2(token.username, token.access_token)
        except ImapAuthError:
            self.tokens.forget()
            raise


def authenticator_for(
    inbox: WatchedInbox, secret_box: SecretBox, access_tokens: AccessTokens | None = None
) -> Authenticator:
    """The login strategy for `inbox`, or ImapSettingsError saying what is missing."""
    if inbox.auth == "oauth2":
        if access_tokens is None:
            raise ImapSettingsError("OAuth2 sign-in needs config-api's access tokens (INTAKE_CONFIG_API_URL)")
        return OAuth2Login(access_tokens)
    if inbox.auth != "password":
        raise ImapSettingsError(f"unknown auth mode {inbox.auth!r}")
    if inbox.password_encrypted is None:
        raise ImapSettingsError("no password is set for this inbox")
    try:
        password = secret_box.decrypt(inbox.password_encrypted)
    except SecretDecryptionError as error:
        raise ImapSettingsError(str(error)) from None
    return PasswordLogin(inbox.username, password)
