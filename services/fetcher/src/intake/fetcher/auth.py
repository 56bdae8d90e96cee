"""Choosing how an inbox authenticates: one strategy object per auth mode, built from its settings.

Decrypts the stored password only here and only into the strategy; it is never logged.
"""

from __future__ import annotations

from intake.fetcher.inboxes import InboxSettings
from intake.shared.imap import Authenticator, PasswordLogin
from intake.shared.imap_errors import ImapSettingsError
from intake.shared.secrets import SecretBox, SecretDecryptionError


def authenticator_for(inbox: InboxSettings, secret_box: SecretBox) -> Authenticator:
    """The login strategy for `inbox`, or ImapSettingsError saying what is missing."""
    if inbox.auth == "oauth2":
        # Issue 3: XOAUTH2 with an access token from config-api's internal endpoint.
        raise ImapSettingsError("OAuth2 sign-in is not supported by this fetcher yet")
    if inbox.auth != "password":
        raise ImapSettingsError(f"unknown auth mode {inbox.auth!r}")
    if inbox.password_encrypted is None:
        raise ImapSettingsError("no password is set for this inbox")
    try:
        password = secret_box.decrypt(inbox.password_encrypted)
    except SecretDecryptionError as error:
        raise ImapSettingsError(str(error)) from None
    return PasswordLogin(inbox.username, password)
