"""Talking to the identity platforms: Google's token endpoint over httpx, Microsoft's through msal.

Each call answers `Tokens`, `Refused` (an OAuth2 error: the grant is unusable) or `Unavailable` (network
trouble, 5xx: try later); the meaning of an answer is decided in `oauth2.py`. Secrets are passed in
plain and never logged; msal is synchronous, so its calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msal
import requests
import structlog

from intake.config_api.oauth2 import (
    GOOGLE_SCOPE,
    MICROSOFT_APP_SCOPE,
    MICROSOFT_DELEGATED_SCOPE,
    Refused,
    Tokens,
    Unavailable,
    microsoft_authority,
    token_response,
)

log = structlog.get_logger(__name__)

Answer = Tokens | Refused | Unavailable


@dataclass(frozen=True)
class Client:
    """An inbox's OAuth2 client registration, secrets decrypted for the duration of one call."""

    client_id: str
    client_secret: str | None
    tenant_id: str | None


def _now() -> datetime:
    return datetime.now(UTC)


class Google:
    """Google's OAuth2 token endpoint (authorization code with PKCE, refresh token)."""

    def __init__(self, token_url: str, http: httpx.AsyncClient) -> None:
        self._token_url = token_url
        self._http = http

    async def _post(self, form: dict[str, str]) -> Answer:
        try:
            response = await self._http.post(self._token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            return Unavailable(f"the token endpoint could not be reached: {type(error).__name__}")
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        return token_response(response.status_code, body, _now())

    async def exchange_code(self, client: Client, code: str, verifier: str, redirect_url: str) -> Answer:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_url,
            "client_id": client.client_id,
        }
        if client.client_secret:
            form["client_secret"] = client.client_secret
        return await self._post(form)

    async def refresh(self, client: Client, refresh_token: str) -> Answer:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client.client_id,
            "scope": GOOGLE_SCOPE,
        }
        if client.client_secret:
            form["client_secret"] = client.client_secret
        return await self._post(form)


class _Session(requests.Session):
    """A requests session whose CA choice and timeout hold for every request msal makes.

    requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace a session's `verify` (psf/requests#3829), and
    msal passes no timeout when given its own session; proxies from the environment still apply.
    """

    def __init__(self, verify: str | bool, timeout: float) -> None:
        super().__init__()
        self.verify = verify
        self._timeout = timeout

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        settings["verify"] = self.verify
        return settings

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


class Microsoft:
    """The Microsoft identity platform through msal: delegated (code, refresh token) and app-only.

    One msal application per client registration, kept while its settings stay the same: msal does the
    tenant's OpenID discovery once per application, and keeps its app-only token cache in it.
    """

    def __init__(self, authority_base: str, *, ca_file: Path | None, timeout: float) -> None:
        self._authority_base = authority_base
        self._ca_file = ca_file
        self._timeout = timeout
        self._apps: dict[str, msal.ClientApplication] = {}

    def _key(self, client: Client) -> str:
        material = "\x00".join((client.client_id, client.tenant_id or "", client.client_secret or ""))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def _app(self, client: Client) -> msal.ClientApplication:
        key = self._key(client)
        if key not in self._apps:
            session = _Session(str(self._ca_file) if self._ca_file else True, self._timeout)
            common: dict[str, Any] = {
                "authority": microsoft_authority(self._authority_base, client.tenant_id),
                "http_client": session,
                # The authority is a setting the operator chose; don't ask login.microsoftonline.com about it.
                "instance_discovery": False,
            }
            if client.client_secret:
                self._apps[key] = msal.ConfidentialClientApplication(
                    client.client_id, client_credential=client.client_secret, **common
                )
            else:
                self._apps[key] = msal.PublicClientApplication(client.client_id, **common)
        return self._apps[key]

    def _call(self, client: Client, call: str, *args: Any, **kwargs: Any) -> Answer:
        try:
            app = self._app(client)
            with warnings.catch_warnings():
                # acquire_token_by_authorization_code is "deprecated" in favour of msal's own state
                # handling; our state is stored hashed server-side, so we exchange the code ourselves.
                warnings.simplefilter("ignore", DeprecationWarning)
                result = getattr(app, call)(*args, **kwargs)
        except (requests.RequestException, OSError) as error:
            return Unavailable(f"the Microsoft identity platform could not be reached: {type(error).__name__}")
        except json.JSONDecodeError:
            # msal parses the token endpoint's answer itself: not JSON (an HTML error page, a proxy) is
            # trouble on the way, not a verdict on the grant.
            return Unavailable("the Microsoft identity platform answered something that is not JSON")
        except msal.exceptions.MsalServiceError as error:
            # msal raises this for an HTTP 5xx (discovery or token endpoint) instead of returning the body.
            return Unavailable(f"the Microsoft identity platform failed: {error}")
        except ValueError as error:
            # msal raises ValueError for an authority whose OpenID discovery answered 4xx (unknown tenant).
            text = str(error).split(". ")[0]
            return Refused("invalid_authority", text[:300])
        if not isinstance(result, dict):
            return Unavailable("msal returned no answer")
        status = 400 if "error" in result else 200
        return token_response(status, result, _now())

    async def exchange_code(self, client: Client, code: str, verifier: str, redirect_url: str) -> Answer:
        return await asyncio.to_thread(
            self._call,
            client,
            "acquire_token_by_authorization_code",
            code,
            [MICROSOFT_DELEGATED_SCOPE],
            redirect_uri=redirect_url,
            data={"code_verifier": verifier},
        )

    async def refresh(self, client: Client, refresh_token: str) -> Answer:
        return await asyncio.to_thread(
            self._call, client, "acquire_token_by_refresh_token", refresh_token, [MICROSOFT_DELEGATED_SCOPE]
        )

    async def client_credentials(self, client: Client) -> Answer:
        if not client.client_secret:
            return Refused("invalid_client", "app-only access needs the client secret")
        return await asyncio.to_thread(self._call, client, "acquire_token_for_client", [MICROSOFT_APP_SCOPE])


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's trust store, or only the CAs in `ca_file` when one is set, like msal's requests session.

    Certificates and host names are always verified.
    """
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
