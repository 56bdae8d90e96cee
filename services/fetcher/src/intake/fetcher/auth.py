"""Choosing how an inbox authenticates: one strategy object per auth mode, built from its settings.

Decrypts the stored password only here and only into the strategy; it is never logged.
"""

from __future__ import annotations

from intake.fetcher.errors import InboxConfigError
from intake.fetcher.imap import Authenticator, PasswordLogin
from intake.fetcher.inboxes import InboxSettings
from intake.shared.secrets import SecretBox, SecretDecryptionError


def authenticator_for(inbox: InboxSettings, secret_box: SecretBox) -> Authenticator:
    """The login strategy for `inbox`, or InboxConfigError saying what is missing."""
    if inbox.auth == "oauth2":
        # Issue 3: XOAUTH2 with an access token from config-api's internal endpoint.
        raise InboxConfigError("OAuth2 sign-in is not supported by this fetcher yet")
    if inbox.auth != "password":
        raise InboxConfigError(f"unknown auth mode {inbox.auth!r}")
    if inbox.password_encrypted is None:
        raise InboxConfigError("no password is set for this inbox")
    try:
        password = secret_box.decrypt(inbox.password_encrypted)
    except SecretDecryptionError as error:
        raise InboxConfigError(str(error)) from None
    return PasswordLogin(inbox.username, password)
