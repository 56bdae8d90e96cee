"""Short-lived OAuth2 access tokens for the fetcher: cached until shortly before expiry, refreshed under a lock,
every rotated refresh token saved, and a dead grant turned into `needs_reauth` at once.

Once an inbox is marked needs_reauth, no further request reaches the provider until the inbox is connected
again or its settings change: a fetcher asking every few seconds causes no storm of refused refreshes.
Transient provider trouble is reported (ProviderUnavailable) without marking anything.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog

from intake.config_api import oauth2_store as store
from intake.config_api.errors import NotFound
from intake.config_api.oauth2 import (
    Flavour,
    Grant,
    Refused,
    Tokens,
    Unavailable,
    flavour_of,
    grant_for,
    still_fresh,
)
from intake.config_api.oauth2_providers import Client, Google, Microsoft
from intake.shared.database import Session
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)


class NotAnOAuth2Inbox(NotFound):
    """The inbox exists but does not log in with OAuth2 (or its provider has no OAuth2 flow here)."""


class NeedsReauth(Exception):
    """The inbox's grant is unusable until a person connects it again; the message says why."""


class ProviderUnavailable(Exception):
    """The identity platform could not be reached or failed (5xx); the grant may well be fine."""


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    expires_at: datetime
    username: str


@dataclass(frozen=True)
class _Cached:
    token: AccessToken
    issued_at: datetime
    settings_version: datetime


def oauth2_flavour(inbox: store.OAuth2Inbox) -> Flavour:
    """The inbox's identity platform, or NotAnOAuth2Inbox saying why it has none."""
    if inbox.auth != "oauth2":
        raise NotAnOAuth2Inbox(f"inbox {inbox.id} logs in with a password, not OAuth2")
    flavour = flavour_of(inbox.provider)
    if flavour is None:
        raise NotAnOAuth2Inbox(f"inbox {inbox.id} uses provider {inbox.provider}; OAuth2 works for gmail and outlook")
    if not inbox.client_id:
        raise NotAnOAuth2Inbox(f"inbox {inbox.id} has no OAuth2 client_id")
    return flavour


class TokenService:
    """Access tokens per inbox; one instance per process, shared by all requests."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox,
        google: Google,
        microsoft: Microsoft,
        record_refresh: Callable[[int, str], None] = lambda inbox_id, outcome: None,
    ) -> None:
        """`record_refresh(inbox_id, outcome)` is told each provider answer: ok, refused or unavailable."""
        self._record_refresh = record_refresh
        self._pool = pool
        self._box = box
        self._google = google
        self._microsoft = microsoft
        self._cache: dict[int, _Cached] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _fresh(self, inbox: store.OAuth2Inbox) -> AccessToken | None:
        cached = self._cache.get(inbox.id)
        if cached is None or cached.settings_version != inbox.updated_at or cached.token.username != inbox.username:
            return None
        if not still_fresh(cached.token.expires_at, cached.issued_at, datetime.now(UTC)):
            return None
        return cached.token

    async def access_token(self, inbox_id: int) -> AccessToken:
        """A valid access token for the inbox: NotFound / NotAnOAuth2Inbox, NeedsReauth or ProviderUnavailable."""
        inbox = await store.get_inbox(self._pool, inbox_id)
        oauth2_flavour(inbox)
        if inbox.needs_reauth:
            raise NeedsReauth(inbox.reauth_reason or "the inbox must be connected again")
        if token := self._fresh(inbox):
            return token
        async with self._locks[inbox_id]:
            return await self._renew(inbox_id)

    async def _renew(self, inbox_id: int) -> AccessToken:
        problem: Exception
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_inbox_tokens(conn, inbox_id)
            # Read again under the lock: another request or replica may have refreshed or marked it meanwhile.
            inbox = await store.get_inbox(conn, inbox_id)
            flavour = oauth2_flavour(inbox)
            if inbox.needs_reauth:
                raise NeedsReauth(inbox.reauth_reason or "the inbox must be connected again")
            if token := self._fresh(inbox):
                return token
            grant = grant_for(
                flavour,
                has_refresh_token=inbox.refresh_token_encrypted is not None,
                has_client_secret=inbox.client_secret_encrypted is not None,
            )
            answer = await self._ask(inbox, flavour, grant) if isinstance(grant, Grant) else None
            if answer is not None:
                outcome = (
                    "ok" if isinstance(answer, Tokens) else "refused" if isinstance(answer, Refused) else "unavailable"
                )
                self._record_refresh(inbox_id, outcome)
            if isinstance(answer, Tokens):
                return await self._keep(conn, inbox, answer)
            if answer is None or isinstance(answer, Refused):
                reason = answer.reason if answer else str(grant)
                await store.mark_needs_reauth(conn, inbox_id, reason)
                log.warning("oauth2 grant unusable; inbox needs reauth", inbox_id=inbox_id, reason=reason)
                problem = NeedsReauth(reason)
            else:
                log.warning("oauth2 provider unavailable", inbox_id=inbox_id, reason=answer.reason)
                problem = ProviderUnavailable(answer.reason)
        # Raised after the transaction committed, so the needs_reauth mark is kept.
        raise problem

    async def _ask(self, inbox: store.OAuth2Inbox, flavour: Flavour, grant: Grant) -> Tokens | Refused | Unavailable:
        assert inbox.client_id is not None  # oauth2_flavour checked it
        client = Client(
            inbox.client_id,
            self._box.decrypt(inbox.client_secret_encrypted) if inbox.client_secret_encrypted else None,
            inbox.tenant_id,
        )
        if grant is Grant.CLIENT_CREDENTIALS:
            log.info("oauth2 app-only token requested", inbox_id=inbox.id)
            return await self._microsoft.client_credentials(client)
        assert inbox.refresh_token_encrypted is not None
        refresh_token = self._box.decrypt(inbox.refresh_token_encrypted)
        log.info("oauth2 access token refresh requested", inbox_id=inbox.id, provider=inbox.provider)
        provider = self._google if flavour is Flavour.GOOGLE else self._microsoft
        return await provider.refresh(client, refresh_token)

    async def _keep(self, conn: Session, inbox: store.OAuth2Inbox, tokens: Tokens) -> AccessToken:
        old = self._box.decrypt(inbox.refresh_token_encrypted) if inbox.refresh_token_encrypted else None
        if tokens.refresh_token is not None and tokens.refresh_token != old:
            # Providers rotate refresh tokens and revoke the old one later: losing the new one loses the mailbox.
            await store.save_refresh_token(conn, inbox.id, self._box.encrypt(tokens.refresh_token))
            log.info("oauth2 rotated refresh token saved", inbox_id=inbox.id)
        token = AccessToken(tokens.access_token, tokens.expires_at, inbox.username)
        self._cache[inbox.id] = _Cached(token, datetime.now(UTC), inbox.updated_at)
        return token

    def forget(self, inbox_id: int) -> None:
        """Drop a cached access token (after a new grant was connected)."""
        self._cache.pop(inbox_id, None)
