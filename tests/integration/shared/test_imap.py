"""The aioimaplib adapter against a real Dovecot: typed results, and each failure as its own error type."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from intake.shared.imap import Encryption, ImapClient, ImapEndpoint, PasswordLogin
from intake.shared.imap_errors import ImapAuthError, ImapCommandError, ImapConnectError, ImapSettingsError, ImapTlsError
from tests.integration.fetcher.conftest import message
from tests.support.dovecot import Dovecot, Mailbox, _free_port

STEP_SECONDS = 10.0


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    return dovecot.new_user()


@pytest.fixture
async def client(dovecot: Dovecot, mailbox: Mailbox) -> AsyncIterator[ImapClient]:
    connected = await ImapClient.connect(ImapEndpoint(dovecot.host, dovecot.imap_port, Encryption.NONE), STEP_SECONDS)
    try:
        await connected.authenticate(PasswordLogin(mailbox.username, mailbox.password))
        yield connected
    finally:
        await connected.logout()


async def test_select_search_and_fetch_without_marking_seen(client: ImapClient, mailbox: Mailbox) -> None:
    raw = message("adapter")
    first = mailbox.append(raw)
    second_raw = message("second")
    second = mailbox.append(second_raw, flags="\\Seen")

    folder = await client.select("INBOX")

    assert folder.uidvalidity == mailbox.uidvalidity()
    assert folder.uidnext == second + 1
    assert await client.uid_search("UID", "1:*") == [first, second]
    assert await client.uid_search("UNSEEN") == [first]
    assert await client.uid_search("UID", f"{second + 1}:*") == [second]  # `*` is the highest UID
    assert await client.fetch_sizes([first, second, second + 5]) == {first: len(raw), second: len(second_raw)}
    assert await client.fetch_body(first) == raw
    assert await client.fetch_body(second + 5) is None
    assert mailbox.flags(first) == set()


async def test_store_and_uid_expunge_touch_only_the_given_uid(client: ImapClient, mailbox: Mailbox) -> None:
    keep = mailbox.append(message("keep"))
    read = mailbox.append(message("read"))
    remove = mailbox.append(message("remove"))
    await client.select("INBOX")

    await client.add_flags(read, "\\Seen")
    await client.add_flags(remove, "\\Deleted")
    assert client.supports_uid_expunge
    await client.uid_expunge(remove)

    assert mailbox.uids() == [keep, read]
    assert mailbox.flags(read) == {"\\Seen"}
    assert mailbox.flags(keep) == set()


async def test_non_ascii_folder_names_are_encoded(client: ImapClient, mailbox: Mailbox) -> None:
    mailbox.create_folder("Entw&APw-rfe")  # "Entwürfe" in modified UTF-7, as the helper sends names raw
    uid = mailbox.append(message("draft"), folder="Entw&APw-rfe")

    await client.select("Entwürfe")

    assert await client.uid_search("UID", "1:*") == [uid]


async def test_unknown_folder_is_a_command_error(client: ImapClient) -> None:
    with pytest.raises(ImapCommandError) as raised:
        await client.select("No Such Folder")
    assert raised.value.stage == "select"


async def test_wrong_password_is_an_auth_error(dovecot: Dovecot, mailbox: Mailbox) -> None:
    client = await ImapClient.connect(ImapEndpoint(dovecot.host, dovecot.imap_port, Encryption.NONE), STEP_SECONDS)
    try:
        with pytest.raises(ImapAuthError):
            await client.authenticate(PasswordLogin(mailbox.username, "wrong"))
    finally:
        await client.logout()


async def test_implicit_tls_verifies_against_the_given_ca(dovecot: Dovecot, mailbox: Mailbox) -> None:
    endpoint = ImapEndpoint("localhost", dovecot.imaps_port, Encryption.SSL, dovecot.ca_pem)
    client = await ImapClient.connect(endpoint, STEP_SECONDS)
    try:
        await client.authenticate(PasswordLogin(mailbox.username, mailbox.password))
        assert "UIDPLUS" in client.capabilities  # re-read after login
    finally:
        await client.logout()


async def test_implicit_tls_without_the_ca_is_refused(dovecot: Dovecot) -> None:
    with pytest.raises(ImapTlsError) as raised:
        await ImapClient.connect(ImapEndpoint("localhost", dovecot.imaps_port, Encryption.SSL), STEP_SECONDS)
    assert "certificate" in raised.value.detail


async def test_starttls_is_refused_until_supported(dovecot: Dovecot) -> None:
    with pytest.raises(ImapSettingsError, match="STARTTLS"):
        await ImapClient.connect(ImapEndpoint(dovecot.host, dovecot.imap_port, Encryption.TLS), STEP_SECONDS)


async def test_closed_port_is_a_connect_error() -> None:
    with pytest.raises(ImapConnectError):
        await ImapClient.connect(ImapEndpoint("127.0.0.1", _free_port(), Encryption.NONE), STEP_SECONDS)
