"""The Test connection action (DESIGN §1): an inbox's settings tried step by step through the shared IMAP adapter.

Looks up the host, connects (TLS as configured, always verified), logs in, selects the folder and logs
out; the first step that fails ends the test and `connection_diagnosis` says why. A failing server or
unusable settings are a result, never an exception; nothing is stored and no password is logged.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import structlog

from intake.config_api.connection_diagnosis import (
    Diagnosis,
    Stage,
    diagnose,
    host_not_found,
    login_unavailable,
    succeeded,
)
from intake.config_api.errors import NotFound
from intake.config_api.oauth2_tokens import NeedsReauth, NotAnOAuth2Inbox, ProviderUnavailable, TokenService
from intake.shared.imap_client import Authenticator, ImapClient, ImapEndpoint, PasswordLogin, XOAuth2Login
from intake.shared.imap_error_words import Attempt
from intake.shared.imap_errors import ImapError, ImapSettingsError
from intake.shared.inbox_vocabulary import Encryption
from intake.shared.secrets import SecretBox, SecretDecryptionError

log = structlog.get_logger(__name__)


class LoginUnavailable(Exception):
    """No credentials to try (an OAuth2 token that cannot be had); `reason` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Login = Callable[[], Awaitable[Authenticator]]


def fixed_login(authenticator: Authenticator) -> Login:
    async def login() -> Authenticator:
        return authenticator

    return login


def no_login(reason: str) -> Login:
    async def login() -> Authenticator:
        raise LoginUnavailable(reason)

    return login


@dataclass(frozen=True)
class ConnectionTarget:
    """What to try: where, as whom, which folder. `login` gives the credentials once connect and TLS
    passed (an OAuth2 access token is asked for only then), or raises LoginUnavailable."""

    endpoint: ImapEndpoint
    username: str
    folder: str
    login: Login = field(repr=False)


async def _look_up(host: str, port: int, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)


async def run_connection_test(target: ConnectionTarget, step_seconds: float) -> Diagnosis:
    """Connect → TLS → login → select folder; the first failing step and why, or ok."""
    endpoint = target.endpoint
    attempt = Attempt(endpoint.host, endpoint.port, endpoint.encryption.value, target.username, target.folder)
    try:
        await _look_up(endpoint.host, endpoint.port, step_seconds)
    except socket.gaierror as error:
        return host_not_found(attempt, error.strerror or str(error))
    except TimeoutError:
        return Diagnosis(
            False,
            Stage.CONNECT,
            f"timed out looking up host {endpoint.host!r} (no DNS answer within {step_seconds:g} s)",
        )
    try:
        client = await ImapClient.connect(endpoint, step_seconds)
    except (ImapError, ImapSettingsError) as error:
        return diagnose(error, attempt)
    try:
        try:
            authenticator = await target.login()
        except LoginUnavailable as unavailable:
            return login_unavailable(unavailable.reason)
        await client.authenticate(authenticator)
        await client.select(target.folder)
    except ImapError as error:
        return diagnose(error, attempt)
    finally:
        await client.logout()
    return succeeded(attempt)


def oauth2_login(tokens: TokenService, inbox_id: int) -> Login:
    """XOAUTH2 with an access token from config-api's token service (refreshed as needed)."""

    async def login() -> Authenticator:
        try:
            token = await tokens.access_token(inbox_id)
        except NeedsReauth as error:
            raise LoginUnavailable(f"OAuth2 sign-in needs the inbox to be connected again (Connect): {error}") from None
        except ProviderUnavailable as error:
            raise LoginUnavailable(
                f"the identity provider could not be reached for an access token ({error}); try again later"
            ) from None
        except NotAnOAuth2Inbox as error:
            raise LoginUnavailable(f"OAuth2 sign-in cannot be tried: {error}") from None
        return XOAuth2Login(token.username, token.access_token)

    return login


async def saved_target(pool: asyncpg.Pool, box: SecretBox, tokens: TokenService, inbox_id: int) -> ConnectionTarget:
    """The stored settings of inbox `inbox_id`: the password decrypted, or OAuth2 tokens from `tokens`."""
    row = await pool.fetchrow(
        """SELECT hostname, port, encryption, ca_certificate, username, password_encrypted, directory, auth
           FROM config.inboxes WHERE id = $1""",
        inbox_id,
    )
    if row is None:
        raise NotFound(f"no inbox with id {inbox_id}")
    endpoint = ImapEndpoint(row["hostname"], row["port"], Encryption(row["encryption"]), row["ca_certificate"])
    login: Login
    if row["auth"] == "oauth2":
        login = oauth2_login(tokens, inbox_id)
    elif row["password_encrypted"] is None:
        login = no_login("no password is stored for this inbox: set one, then test again")
    else:
        try:
            login = fixed_login(PasswordLogin(row["username"], box.decrypt(row["password_encrypted"])))
        except SecretDecryptionError:
            log.error("stored inbox password cannot be decrypted", inbox_id=inbox_id)
            login = no_login("the stored password cannot be decrypted with this INTAKE_SECRET_KEY: set it again")
    return ConnectionTarget(endpoint, row["username"], row["directory"], login)
