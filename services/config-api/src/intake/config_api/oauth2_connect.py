"""The OAuth2 "Connect" flow of an inbox: the consent redirect (state + PKCE) and the callback that stores the grant.

`begin` issues a random single-use state (stored hashed, bound to the inbox, short-lived) and a PKCE
verifier (stored encrypted); `complete` spends the state, exchanges the code, stores the refresh token
encrypted and clears needs_reauth. Every refusal is a `ConnectFailed` with a machine-readable `error`
and words a person can act on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import asyncpg
import structlog

from intake.config_api import oauth2_store as store
from intake.config_api.errors import NotFound
from intake.config_api.oauth2 import (
    STATE_PROBLEM_DETAIL,
    ConsentRequest,
    Flavour,
    Refused,
    StateProblem,
    Tokens,
    authorize_url,
    microsoft_authority,
    microsoft_authorize_endpoint,
    pkce_challenge,
    state_digest,
    state_problem,
)
from intake.config_api.oauth2_providers import Client, Google, Microsoft
from intake.config_api.oauth2_tokens import TokenService, oauth2_flavour
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)


class ConnectFailed(Exception):
    """The callback could not connect the inbox: `error` names the kind, the message says why in words."""

    def __init__(self, error: str, detail: str, *, inbox_id: int | None = None, status: int = 400) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.inbox_id = inbox_id
        self.status = status


@dataclass(frozen=True)
class Endpoints:
    google_authorize_url: str
    microsoft_authority: str
    redirect_url: str
    state_ttl_seconds: int


class ConnectFlow:
    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox,
        endpoints: Endpoints,
        google: Google,
        microsoft: Microsoft,
        tokens: TokenService,
    ) -> None:
        self._pool = pool
        self._box = box
        self._endpoints = endpoints
        self._google = google
        self._microsoft = microsoft
        self._tokens = tokens

    async def begin(self, inbox_id: int) -> str:
        """The provider's consent URL for the inbox; NotFound / NotAnOAuth2Inbox when it has no OAuth2 flow."""
        inbox = await store.get_inbox(self._pool, inbox_id)
        flavour = oauth2_flavour(inbox)
        assert inbox.client_id is not None
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
        await store.save_state(
            self._pool,
            state_sha256=state_digest(state),
            inbox_id=inbox_id,
            code_verifier_encrypted=self._box.encrypt(verifier),
            redirect_url=self._endpoints.redirect_url,
            ttl_seconds=self._endpoints.state_ttl_seconds,
        )
        if flavour is Flavour.GOOGLE:
            endpoint = self._endpoints.google_authorize_url
        else:
            endpoint = microsoft_authorize_endpoint(
                microsoft_authority(self._endpoints.microsoft_authority, inbox.tenant_id)
            )
        request = ConsentRequest(
            inbox.client_id, self._endpoints.redirect_url, state, pkce_challenge(verifier), inbox.email
        )
        log.info("oauth2 consent started", inbox_id=inbox_id, provider=inbox.provider)
        return authorize_url(flavour, endpoint, request)

    async def complete(
        self, *, state: str | None, code: str | None, error: str | None, error_description: str | None
    ) -> int:
        """Connect the inbox the state was issued for; returns its id, or raises ConnectFailed."""
        if not state:
            raise ConnectFailed(StateProblem.MISSING.value, STATE_PROBLEM_DETAIL[StateProblem.MISSING])
        consent, now = await store.use_state(self._pool, state_digest(state))
        problem = state_problem(
            found=consent is not None,
            used=consent.used if consent else False,
            expires_at=consent.expires_at if consent else None,
            now=now,
        )
        if problem is not None or consent is None:
            problem = problem or StateProblem.UNKNOWN
            log.warning("oauth2 callback refused", error=problem.value)
            raise ConnectFailed(
                problem.value, STATE_PROBLEM_DETAIL[problem], inbox_id=consent.inbox_id if consent else None
            )
        inbox_id = consent.inbox_id
        if error:
            # The person declined, or the provider refused the request (RFC 6749 §4.1.2.1).
            detail = f"the provider did not grant access: {error}"
            if error_description:
                detail += f" ({error_description.strip()[:300]})"
            log.warning("oauth2 consent not granted", inbox_id=inbox_id, error=error)
            raise ConnectFailed("provider_error", detail, inbox_id=inbox_id)
        if not code:
            raise ConnectFailed("code_missing", "the provider sent no authorization code", inbox_id=inbox_id)
        try:
            inbox = await store.get_inbox(self._pool, inbox_id)
            flavour = oauth2_flavour(inbox)
        except NotFound as gone:
            # Deleted, or switched to password login, between the redirect and the callback.
            raise ConnectFailed("inbox_changed", str(gone), inbox_id=inbox_id) from None
        assert inbox.client_id is not None
        client = Client(
            inbox.client_id,
            self._box.decrypt(inbox.client_secret_encrypted) if inbox.client_secret_encrypted else None,
            inbox.tenant_id,
        )
        provider = self._google if flavour is Flavour.GOOGLE else self._microsoft
        answer = await provider.exchange_code(
            client, code, self._box.decrypt(consent.code_verifier_encrypted), consent.redirect_url
        )
        if isinstance(answer, Refused):
            log.warning("oauth2 code exchange refused", inbox_id=inbox_id, error=answer.error)
            raise ConnectFailed("provider_error", answer.reason, inbox_id=inbox_id, status=502)
        if not isinstance(answer, Tokens):
            log.warning("oauth2 code exchange failed", inbox_id=inbox_id, reason=answer.reason)
            raise ConnectFailed("provider_unavailable", answer.reason, inbox_id=inbox_id, status=502)
        if answer.refresh_token is None:
            raise ConnectFailed(
                "no_refresh_token",
                "the provider granted access but issued no refresh token (offline access was not granted)",
                inbox_id=inbox_id,
                status=502,
            )
        async with self._pool.acquire() as conn:
            await store.save_connected_grant(conn, inbox_id, self._box.encrypt(answer.refresh_token))
        self._tokens.forget(inbox_id)
        log.info("oauth2 inbox connected", inbox_id=inbox_id, provider=inbox.provider)
        return inbox_id
