"""The aioimaplib adapter against a real Dovecot: typed results, each failure as its own error type,
and every workaround of DESIGN §2 (see the docstrings of intake.shared.imap_client and
intake.shared.aioimaplib_patches) exercised for real."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from intake.shared.imap_client import MAX_FETCH_LINES, IdleEnd, ImapClient, ImapEndpoint, PasswordLogin, XOAuth2Login
from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapTimeout,
    ImapTlsError,
)
from intake.shared.inbox_vocabulary import Encryption
from tests.integration.fetcher.conftest import message
from tests.support.dovecot import HOST, Dovecot, Mailbox, _free_port, running_dovecot

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


async def test_the_listing_gives_each_message_its_size_and_arrival(client: ImapClient, mailbox: Mailbox) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    raw = message("arrival")
    uid = mailbox.append(raw)
    await client.select("INBOX")
    listed = await client.fetch_listing([uid, uid + 5])
    assert set(listed) == {uid}
    assert listed[uid].size == len(raw)
    arrived = listed[uid].internal_date
    assert arrived is not None
    # INTERNALDATE has whole seconds; Dovecot sets it to the APPEND's time.
    assert before - timedelta(seconds=1) <= arrived <= datetime.now(UTC) + timedelta(seconds=1)


async def test_fetch_bodies_reads_several_with_one_command_and_leaves_out_a_vanished_one(
    client: ImapClient, mailbox: Mailbox
) -> None:
    raws = [message(f"batch {index}") + b"y" * (index * 700) + b"\r\n" for index in range(6)]
    uids = mailbox.append_many(raws)
    await client.select("INBOX")
    await client.add_flags(uids[2], "\\Deleted")
    await client.uid_expunge(uids[2])  # gone between the size fetch and the body fetch

    bodies = await client.fetch_bodies([*uids, uids[-1] + 10], sum(len(raw) for raw in raws))

    assert bodies == {uid: raw for index, (uid, raw) in enumerate(zip(uids, raws, strict=True)) if index != 2}
    assert all(mailbox.flags(uid) == set() for index, uid in enumerate(uids) if index != 2)


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
    assert raised.value.detail == "folder 'No Such Folder' does not exist"


async def test_non_ascii_folder_beyond_latin1(client: ImapClient, mailbox: Mailbox) -> None:
    mailbox.create_folder("&U,BTFw- Caf&AOk-")  # "台北 Café"
    uid = mailbox.append(message("nested"), folder="&U,BTFw- Caf&AOk-")

    await client.select("台北 Café")

    assert await client.uid_search("UID", "1:*") == [uid]


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


async def test_starttls_upgrades_the_plain_port(dovecot: Dovecot, mailbox: Mailbox) -> None:
    endpoint = ImapEndpoint("localhost", dovecot.imap_port, Encryption.TLS, dovecot.ca_pem)
    client = await ImapClient.connect(endpoint, STEP_SECONDS)
    try:
        # Capabilities were re-read over TLS (RFC 3501 §6.2.1): STARTTLS is no longer offered.
        assert "STARTTLS" not in client.capabilities
        await client.authenticate(PasswordLogin(mailbox.username, mailbox.password))
        uid = mailbox.append(message("over STARTTLS"))
        await client.select("INBOX")
        assert await client.uid_search("UID", "1:*") == [uid]
    finally:
        await client.logout()


async def test_starttls_with_a_self_signed_certificate_is_refused_without_its_ca(dovecot: Dovecot) -> None:
    with pytest.raises(ImapTlsError) as raised:
        await ImapClient.connect(ImapEndpoint("localhost", dovecot.imap_port, Encryption.TLS), STEP_SECONDS)
    assert raised.value.stage == "tls"
    assert "certificate" in raised.value.detail


async def test_starttls_checks_the_host_name(dovecot: Dovecot) -> None:
    # This machine's own name resolves to 127.0.0.1, but the certificate names only localhost/127.0.0.1.
    name = socket.gethostname()
    if name in ("localhost", HOST) or socket.gethostbyname(name) != HOST:
        pytest.skip("needs a host name other than localhost that resolves to 127.0.0.1")
    endpoint = ImapEndpoint(name, dovecot.imap_port, Encryption.TLS, dovecot.ca_pem)
    with pytest.raises(ImapTlsError) as raised:
        await ImapClient.connect(endpoint, STEP_SECONDS)
    assert "certificate" in raised.value.detail
    assert "Hostname mismatch" in raised.value.detail or "match" in raised.value.detail


async def test_starttls_not_offered_stops_before_any_login() -> None:
    with running_dovecot(starttls=False) as server:
        mailbox = server.new_user()
        with pytest.raises(ImapTlsError, match="does not offer STARTTLS"):
            await ImapClient.connect(ImapEndpoint(server.host, server.imap_port, Encryption.TLS), STEP_SECONDS)

        def disconnected() -> bool:
            return "Disconnected" in server.log_text()

        await _wait_until(disconnected, "Dovecot to log the disconnect")
        log = server.log_text()
        assert "no auth attempts" in log
        assert mailbox.username not in log
        assert "auth:" not in log  # auth_verbose logs every attempt


async def _wait_until(check: object, what: str, seconds: float = 30.0) -> None:
    assert callable(check)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_no_encryption_never_upgrades(dovecot: Dovecot, mailbox: Mailbox) -> None:
    client = await ImapClient.connect(ImapEndpoint(dovecot.host, dovecot.imap_port, Encryption.NONE), STEP_SECONDS)
    try:
        assert "STARTTLS" in client.capabilities  # offered, and not taken
        await client.authenticate(PasswordLogin(mailbox.username, mailbox.password))
    finally:
        await client.logout()


# -- XOAUTH2 -----------------------------------------------------------------------------------------
async def test_xoauth2_with_a_valid_token_logs_in_and_refreshes_capabilities(oauth2_dovecot: Dovecot) -> None:
    assert oauth2_dovecot.oauth2 is not None
    mailbox = oauth2_dovecot.new_user()
    token = oauth2_dovecot.oauth2.grant(mailbox.username)
    endpoint = ImapEndpoint("localhost", oauth2_dovecot.imaps_port, Encryption.SSL, oauth2_dovecot.ca_pem)
    client = await ImapClient.connect(endpoint, STEP_SECONDS)
    try:
        assert "UIDPLUS" not in client.capabilities  # Dovecot announces it only once signed in
        await client.authenticate(XOAuth2Login(mailbox.username, token))
        assert {"UIDPLUS", "IDLE"} <= client.capabilities
        uid = mailbox.append(message("oauth"))
        await client.select("INBOX")
        assert await client.uid_search("UID", "1:*") == [uid]
    finally:
        await client.logout()
    assert token in oauth2_dovecot.oauth2.requests


async def test_xoauth2_with_a_rejected_token_fails_at_once(oauth2_dovecot: Dovecot) -> None:
    assert oauth2_dovecot.oauth2 is not None
    mailbox = oauth2_dovecot.new_user()
    token = oauth2_dovecot.oauth2.grant(mailbox.username)
    oauth2_dovecot.oauth2.revoke(token)
    endpoint = ImapEndpoint(oauth2_dovecot.host, oauth2_dovecot.imap_port, Encryption.NONE)
    client = await ImapClient.connect(endpoint, STEP_SECONDS)
    try:
        # Without the answer to the server's `+` challenge this would hang until ImapTimeout.
        with pytest.raises(ImapAuthError, match="refused the OAuth2 access token") as raised:
            await client.authenticate(XOAuth2Login(mailbox.username, token))
        assert not isinstance(raised.value, ImapTimeout)
        assert token not in str(raised.value)
    finally:
        await client.logout()


async def test_xoauth2_where_the_server_does_not_offer_it(dovecot: Dovecot, mailbox: Mailbox) -> None:
    client = await ImapClient.connect(ImapEndpoint(dovecot.host, dovecot.imap_port, Encryption.NONE), STEP_SECONDS)
    try:
        with pytest.raises(ImapAuthError, match="does not offer XOAUTH2"):
            await client.authenticate(XOAuth2Login(mailbox.username, "token"))
    finally:
        await client.logout()


# -- big answers, IDLE, lost connections, timeouts -----------------------------------------------------
async def test_answers_of_thousands_of_lines(client: ImapClient, mailbox: Mailbox) -> None:
    raws = [message(f"bulk {i}") for i in range(1500)]
    uids = mailbox.append_many(raws)
    await client.select("INBOX")

    sizes = await client.fetch_sizes(uids)  # in FETCHes of MAX_FETCH_LINES

    assert sizes == {uid: len(raw) for uid, raw in zip(uids, raws, strict=True)}
    assert MAX_FETCH_LINES <= 200
    # aioimaplib's recursive splitter raised RecursionError on one answer of ~1,000 lines; the
    # adapter's loop takes all 1,500 lines of a single FETCH.
    response = await client._raw.uid("fetch", "1:*", "(UID FLAGS)")
    assert response.result == "OK"
    assert len(response.lines) == 1501
    assert await client.fetch_body(uids[-1]) == raws[-1]


async def test_no_debug_line_per_chunk_or_command(
    client: ImapClient, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    uid = mailbox.append(message("quiet"))
    with caplog.at_level(logging.DEBUG, logger="aioimaplib"):
        await client.select("INBOX")
        assert await client.fetch_body(uid) is not None
    assert not [r for r in caplog.records if "Received" in r.getMessage() or "Sending" in r.getMessage()]


async def test_idle_returns_on_new_mail_and_the_connection_stays_usable(client: ImapClient, mailbox: Mailbox) -> None:
    await client.select("INBOX")
    assert client.supports_idle

    async def deliver() -> int:
        await asyncio.sleep(0.5)
        return await asyncio.to_thread(mailbox.append, message("pushed"))

    delivery = asyncio.create_task(deliver())
    end = await client.idle(60, asyncio.Event())
    uid = await delivery

    assert end is IdleEnd.NEW_MAIL
    assert await client.uid_search("UID", "1:*") == [uid]


async def test_new_mail_reported_inside_another_answer_is_not_lost_to_idle(
    client: ImapClient, mailbox: Mailbox
) -> None:
    """Dovecot reports a change once, in the answer of the next command; aioimaplib drops an EXISTS
    that arrives during FETCH. IDLE must then end at once instead of waiting for a push that never
    comes (the mail would wait for the next full check)."""
    first = mailbox.append(message("first"))
    await client.select("INBOX")
    assert await client.uid_search("UID", "1:*") == [first]
    second = await asyncio.to_thread(mailbox.append, message("arrives between commands"))
    assert await client.fetch_sizes([first])  # its answer carries "* 2 EXISTS"
    await client.noop()  # and this one's "* 2 RECENT" (a STORE of a mailbox action does the same)

    assert await client.idle(5, asyncio.Event()) is IdleEnd.NEW_MAIL
    assert await client.uid_search("UID", f"{first + 1}:*") == [second]


async def test_idle_ends_when_woken_or_when_its_time_is_up(client: ImapClient) -> None:
    await client.select("INBOX")
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, wake.set)
    assert await client.idle(60, wake) is IdleEnd.WOKEN
    assert await client.idle(0.3, asyncio.Event()) is IdleEnd.TIMED_OUT
    await client.noop()


async def test_a_cut_connection_ends_idle_at_once(dovecot: Dovecot, client: ImapClient, mailbox: Mailbox) -> None:
    await client.select("INBOX")
    idle = asyncio.create_task(client.idle(600, asyncio.Event()))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(dovecot.kick, mailbox.username)
    with pytest.raises(ImapConnectError):
        await asyncio.wait_for(idle, STEP_SECONDS)
    with pytest.raises(ImapConnectError):
        await client.noop()


async def test_a_server_that_never_greets_times_out() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()  # accepted by the kernel, never answered
        endpoint = ImapEndpoint(HOST, listener.getsockname()[1], Encryption.NONE)
        with pytest.raises(ImapTimeout) as raised:
            await ImapClient.connect(endpoint, 0.5)
    assert raised.value.stage == "connect"


async def test_closed_port_is_a_connect_error() -> None:
    port = _free_port()
    with pytest.raises(ImapConnectError, match=f"connection refused by 127.0.0.1 port {port}"):
        await ImapClient.connect(ImapEndpoint("127.0.0.1", port, Encryption.NONE), STEP_SECONDS)


async def test_unknown_host_is_a_connect_error() -> None:
    with pytest.raises(ImapConnectError, match=r"host 'imap\.example\.invalid' not found") as raised:
        await ImapClient.connect(ImapEndpoint("imap.example.invalid", 993, Encryption.SSL), STEP_SECONDS)
    assert raised.value.stage == "connect"
