"""Choosing the login strategy: the password is decrypted only into it, and missing pieces are config errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from intake.fetcher.auth import AccessTokens, OAuth2Login, authenticator_for
from intake.fetcher.inboxes import WatchedInbox
from intake.shared.imap_client import PasswordLogin
from intake.shared.imap_errors import ImapSettingsError
from intake.shared.inbox_vocabulary import Encryption, FirstFetch, ProcessedAction
from intake.shared.secrets import SecretBox

BOX = SecretBox(SecretBox.generate_key())
INBOX = WatchedInbox(
    id=1,
    email="support@example.com",
    username="support",
    password_encrypted=BOX.encrypt("s3cret"),
    hostname="imap.example.com",
    port=993,
    directory="INBOX",
    encryption=Encryption.SSL,
    ca_certificate=None,
    auth="password",
    processed_action=ProcessedAction.MARK_READ,
    active=True,
    poll_interval_seconds=60,
    first_fetch=FirstFetch.UNREAD,
    updated_at=datetime(2024, 1, 1, tzinfo=UTC),
)


def test_password_login() -> None:
    login = authenticator_for(INBOX, BOX)
    assert login == PasswordLogin("support", "s3cret")
    assert "s3cret" not in repr(login)
    assert "password_encrypted" not in repr(INBOX)


@pytest.mark.parametrize(
    ("inbox", "box", "reason"),
    [
        (replace(INBOX, password_encrypted=None), BOX, "no password"),
        (INBOX, SecretBox(SecretBox.generate_key()), "cannot be decrypted"),
        (replace(INBOX, auth="oauth2"), BOX, "OAuth2"),
        (replace(INBOX, auth="kerberos"), BOX, "unknown auth mode"),
    ],
)
def test_config_errors(inbox: WatchedInbox, box: SecretBox, reason: str) -> None:
    with pytest.raises(ImapSettingsError, match=reason):
        authenticator_for(inbox, box)


def test_oauth2_login_uses_the_inbox_tokens() -> None:
    tokens = AccessTokens("http://127.0.0.1:9", "service", INBOX.id, 5.0)
    assert authenticator_for(replace(INBOX, auth="oauth2"), BOX, tokens) == OAuth2Login(tokens)
