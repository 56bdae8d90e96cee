"""Connection test diagnoses: each adapter error becomes the failing step and words a person can act on."""

from __future__ import annotations

import doctest

import pytest

from intake.config_api import connection_diagnosis
from intake.config_api.connection_diagnosis import Stage, diagnose, succeeded
from intake.shared.imap_error_words import Attempt
from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapError,
    ImapSettingsError,
    ImapTimeout,
    ImapTlsError,
)

ATTEMPT = Attempt("mail.example.com", 993, "ssl", "ann", "INBOX")


def test_docstring_examples() -> None:
    result = doctest.testmod(connection_diagnosis)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("error", "stage", "start"),
    [
        (ImapConnectError("connect", "Connection refused"), Stage.CONNECT, "connection refused: nothing accepts"),
        (
            ImapConnectError("login", "the server closed the connection"),
            Stage.LOGIN,
            "the server closed the connection",
        ),
        (
            ImapConnectError("connect", "Network is unreachable"),
            Stage.CONNECT,
            "cannot connect to mail.example.com:993",
        ),
        (ImapTimeout("connect", "no answer within 10 seconds"), Stage.CONNECT, "timed out waiting for the server's"),
        (ImapTimeout("capability", "no answer within 10 seconds"), Stage.LOGIN, "timed out logging in"),
        (ImapTimeout("select", "no answer within 10 seconds"), Stage.SELECT, "timed out opening the folder"),
        (
            ImapTlsError(
                "tls", "certificate verification failed: Hostname mismatch, certificate is not valid for 'x'."
            ),
            Stage.TLS,
            "certificate not valid for this host: the server's certificate does not name 'mail.example.com'",
        ),
        (
            ImapTlsError("tls", "certificate verification failed: certificate has expired"),
            Stage.TLS,
            "certificate expired",
        ),
        (
            ImapTlsError("tls", "certificate verification failed: self-signed certificate"),
            Stage.TLS,
            "certificate not trusted",
        ),
        (ImapTlsError("tls", "the server does not offer STARTTLS; refusing"), Stage.TLS, "STARTTLS not offered"),
        (ImapTlsError("tls", "TLS handshake failed: WRONG_VERSION_NUMBER"), Stage.TLS, "no TLS on port 993"),
        (ImapSettingsError("ca_certificate is not a usable PEM"), Stage.TLS, "the inbox's settings cannot be used"),
        (ImapAuthError("login", "[AUTHENTICATIONFAILED] Authentication failed."), Stage.LOGIN, "wrong password"),
        (
            ImapAuthError("login", "the server refused the OAuth2 access token: expired"),
            Stage.LOGIN,
            "OAuth2 sign-in failed",
        ),
        (ImapCommandError("select", "folder 'X' does not exist"), Stage.SELECT, "folder missing: there is no folder"),
        (ImapCommandError("select", "folder 'X' cannot be selected: NO locked"), Stage.SELECT, "the folder cannot be"),
    ],
)
def test_diagnoses(error: ImapError | ImapSettingsError, stage: Stage, start: str) -> None:
    diagnosis = diagnose(error, ATTEMPT)
    assert diagnosis.ok is False
    assert diagnosis.stage is stage
    assert diagnosis.detail.startswith(start), diagnosis.detail


def test_a_plain_port_timing_out_suggests_tls() -> None:
    plain = Attempt("mail.example.com", 993, "none", "ann", "INBOX")
    assert "try encryption 'ssl'" in diagnose(ImapTimeout("connect", "no answer within 10 seconds"), plain).detail


def test_success() -> None:
    assert succeeded(ATTEMPT).ok is True
    assert succeeded(ATTEMPT).stage is Stage.SELECT
