"""Test connection from the console's edit form: the form's (maybe unsaved) values with the stored secrets.

The API tests a saved inbox (`/inboxes/{id}/test`) or a complete unsaved one (`/inboxes/test`); the edit
form needs the mix: changed settings, and the stored password when the person did not type it again.
`resolve_patch` decides first, so a stored password is only ever tried against the server it was saved
for (changing the server asks for the password again, in the same words as saving would).
"""

from __future__ import annotations

from pydantic import SecretStr

from intake.config_api import inbox_repository
from intake.config_api.connection_test import (
    ConnectionTarget,
    Login,
    fixed_login,
    no_login,
    oauth2_login,
    run_connection_test,
)
from intake.config_api.errors import FieldError
from intake.config_api.inbox_requests import InboxPatch
from intake.config_api.inbox_resolution import KEEP, resolve_patch
from intake.config_api.inbox_settings import AuthMethod
from intake.config_api.runtime import Runtime
from intake.config_api.schemas import ConnectionTestResult
from intake.shared.imap_client import ImapEndpoint, PasswordLogin
from intake.shared.inbox_vocabulary import Encryption
from intake.shared.secrets import SecretDecryptionError

RECONNECT = "the OAuth2 client or server changes: save, then Connect the inbox again before testing"


async def test_edited_inbox(
    runtime: Runtime, inbox_id: int, patch: InboxPatch
) -> ConnectionTestResult | list[FieldError]:
    """Connect → TLS → login → folder with the edited settings, or the field errors that stop it."""
    async with runtime.pool.acquire() as conn, conn.transaction():
        stored = await inbox_repository.load_for_update(conn, inbox_id)
        stored_password: bytes | None = await conn.fetchval(
            "SELECT password_encrypted FROM config.inboxes WHERE id = $1", inbox_id
        )
    resolved = resolve_patch(stored, patch)
    if isinstance(resolved, list):
        return resolved
    settings = resolved.settings
    login: Login
    if settings.auth is AuthMethod.OAUTH2:
        login = no_login(RECONNECT) if resolved.drop_refresh_token else oauth2_login(runtime.tokens, inbox_id)
    elif isinstance(resolved.password, SecretStr):
        login = fixed_login(PasswordLogin(settings.username, resolved.password.get_secret_value()))
    elif resolved.password is KEEP and stored_password is not None:
        try:
            login = fixed_login(PasswordLogin(settings.username, runtime.secret_box.decrypt(stored_password)))
        except SecretDecryptionError:
            login = no_login("the stored password cannot be decrypted with this INTAKE_SECRET_KEY: enter it again")
    else:
        login = no_login("no password is set: enter one, then test again")
    endpoint = ImapEndpoint(
        settings.hostname, settings.port, Encryption(settings.encryption.value), settings.ca_certificate
    )
    diagnosis = await run_connection_test(
        ConnectionTarget(endpoint, settings.username, settings.directory, login), runtime.connection_test_seconds
    )
    return ConnectionTestResult(ok=diagnosis.ok, stage=diagnosis.stage, detail=diagnosis.detail)
