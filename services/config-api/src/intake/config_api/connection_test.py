"""The Test connection action (DESIGN §1): an inbox's settings tried step by step through the shared IMAP adapter.

Looks up the host, connects (TLS as configured, always verified), logs in, selects the folder and logs
out; the first step that fails ends the test and `connection_diagnosis` says why. A failing server or
unusable settings are a result, never an exception; nothing is stored and no password is logged.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import asyncpg
import structlog

from intake.config_api.connection_diagnosis import (
    Attempt,
    Diagnosis,
    Stage,
    diagnose,
    host_not_found,
    oauth2_unavailable,
    succeeded,
)
from intake.config_api.errors import NotFound
from intake.shared.imap import Authenticator, Encryption, ImapClient, ImapEndpoint, PasswordLogin
from intake.shared.imap_errors import ImapError, ImapSettingsError
from intake.shared.secrets import SecretBox, SecretDecryptionError

log = structlog.get_logger(__name__)

OAUTH2_NOT_TESTABLE = (
    "OAuth2 sign-in cannot be tested yet: the config API cannot obtain an access token for this inbox"
    " (the OAuth2 connect flow is not available); the connection and TLS steps passed"
)


@dataclass(frozen=True)
class ConnectionTarget:
    """What to try: where, as whom, which folder.

    `authenticator` None means login cannot be tried; `no_login_reason` says why."""

    endpoint: ImapEndpoint
    username: str
    folder: str
    authenticator: Authenticator | None = field(repr=False)
    no_login_reason: str = OAUTH2_NOT_TESTABLE


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
        if target.authenticator is None:
            return oauth2_unavailable(target.no_login_reason)
        await client.authenticate(target.authenticator)
        await client.select(target.folder)
    except ImapError as error:
        return diagnose(error, attempt)
    finally:
        await client.logout()
    return succeeded(attempt)


async def saved_target(pool: asyncpg.Pool, box: SecretBox, inbox_id: int) -> ConnectionTarget | Diagnosis:
    """The stored settings of inbox `inbox_id` (password decrypted), or a Diagnosis when they cannot be tried."""
    row = await pool.fetchrow(
        """SELECT hostname, port, encryption, ca_certificate, username, password_encrypted, directory, auth
           FROM config.inboxes WHERE id = $1""",
        inbox_id,
    )
    if row is None:
        raise NotFound(f"no inbox with id {inbox_id}")
    endpoint = ImapEndpoint(row["hostname"], row["port"], Encryption(row["encryption"]), row["ca_certificate"])
    authenticator: Authenticator | None = None
    if row["auth"] == "password":
        if row["password_encrypted"] is None:
            return Diagnosis(False, Stage.LOGIN, "no password is stored for this inbox: set one, then test again")
        try:
            password = box.decrypt(row["password_encrypted"])
        except SecretDecryptionError:
            log.error("stored inbox password cannot be decrypted", inbox_id=inbox_id)
            return Diagnosis(
                False,
                Stage.LOGIN,
                "the stored password cannot be decrypted with this INTAKE_SECRET_KEY: set the password again",
            )
        authenticator = PasswordLogin(row["username"], password)
    return ConnectionTarget(endpoint, row["username"], row["directory"], authenticator)
