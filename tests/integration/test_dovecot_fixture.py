"""The Dovecot fixture itself: it starts, takes users, stores mail, and speaks TLS and STARTTLS with its CA."""

from __future__ import annotations

import imaplib
import ssl

import pytest

from tests.support.dovecot import Dovecot

RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\nMessage-ID: <1@example.com>\r\n\r\nbody\r\n"


def test_append_returns_uid_and_flags_are_read(dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user()

    first = mailbox.append(RAW)
    second = mailbox.append(RAW, flags="\\Seen")

    assert second > first
    assert mailbox.uids() == [first, second]
    assert mailbox.flags(first) == set()
    assert mailbox.flags(second) == {"\\Seen"}
    assert mailbox.flags(second + 100) is None
    assert mailbox.uidvalidity() >= 1


def test_users_do_not_share_mailboxes(dovecot: Dovecot) -> None:
    one, two = dovecot.new_user(), dovecot.new_user()
    one.append(RAW)
    assert two.uids() == []


def test_folders_can_be_created(dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user()
    mailbox.create_folder("Support Requests")
    uid = mailbox.append(RAW, folder="Support Requests")
    assert mailbox.uids("Support Requests") == [uid]


def test_imaps_verifies_with_the_fixture_ca(dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user()
    conn = imaplib.IMAP4_SSL("localhost", dovecot.imaps_port, ssl_context=dovecot.ssl_context(), timeout=30)
    try:
        assert conn.login(mailbox.username, mailbox.password)[0] == "OK"
    finally:
        conn.logout()


def test_imaps_is_refused_without_the_ca(dovecot: Dovecot) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=ssl.create_default_context(), timeout=30)


def test_starttls_on_the_plain_port(dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user()
    conn = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=30)
    try:
        assert "STARTTLS" in conn.capabilities
        assert conn.starttls(ssl_context=dovecot.ssl_context())[0] == "OK"
        assert conn.login(mailbox.username, mailbox.password)[0] == "OK"
        assert "IDLE" in conn.capabilities or "IDLE" in conn.capability()[1][0].decode().split()
    finally:
        conn.logout()
