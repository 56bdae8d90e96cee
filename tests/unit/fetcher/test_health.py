"""An inbox's health: the words for each failure, and when a status goes out."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import pytest

from intake.fetcher import health
from intake.fetcher.errors import AccessTokenError, AccessTokenRefused, NeedsReauth
from intake.fetcher.health import Health, Problem, describe, due, failed, reported, succeeded
from intake.shared.contracts import InboxState
from intake.shared.imap_error_words import Attempt
from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapSettingsError,
    ImapTimeout,
    ImapTlsError,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
INBOX = Attempt("mail.example.com", 993, "ssl", "ann", "X")


def test_docstring_examples() -> None:
    assert doctest.testmod(health).failed == 0


@pytest.mark.parametrize(
    ("error", "state", "text"),
    [
        (
            ImapAuthError("login", "Authentication failed."),
            InboxState.ERROR,
            "wrong password: the server refused the login for 'ann'",
        ),
        (
            ImapAuthError("login", "the server refused the OAuth2 access token: NO"),
            InboxState.ERROR,
            "OAuth2 sign-in failed: the server refused the OAuth2 access token: NO",
        ),
        (
            ImapTlsError("tls", "certificate verification failed: self-signed certificate"),
            InboxState.ERROR,
            "certificate not trusted: the server's certificate is not signed by a trusted authority",
        ),
        (
            ImapConnectError("connect", "host 'mail.example.com' not found (Name or service not known)"),
            InboxState.ERROR,
            "host not found: 'mail.example.com' has no DNS address (host 'mail.example.com' not found (Name",
        ),
        (
            ImapConnectError("fetch", "the server closed the connection"),
            InboxState.ERROR,
            "the server closed the connection while fetching messages",
        ),
        (
            ImapTimeout("connect", "no answer within 30 seconds"),
            InboxState.ERROR,
            "timed out waiting for the server's greeting: no answer within 30",
        ),
        (
            ImapCommandError("select", "folder 'X' does not exist"),
            InboxState.ERROR,
            "folder missing: there is no folder 'X'",
        ),
        (
            ImapCommandError("search", "BAD parse error"),
            InboxState.ERROR,
            "the server answered with an error while looking for new messages: BAD parse error",
        ),
        (
            ImapSettingsError("no password is set for this inbox"),
            InboxState.ERROR,
            "the inbox's settings cannot be used: no password is set",
        ),
        (NeedsReauth("invalid_grant"), InboxState.NEEDS_REAUTH, "sign-in with OAuth2 must be renewed: invalid_grant"),
        (AccessTokenRefused("INTAKE_SERVICE_TOKEN is not set"), InboxState.ERROR, "INTAKE_SERVICE_TOKEN is not set"),
        (AccessTokenError("config-api answered 503"), InboxState.ERROR, "no OAuth2 access token: config-api answered"),
        (OSError("disk full"), InboxState.ERROR, "internal error: OSError: disk full"),
    ],
)
def test_describe(error: Exception, state: InboxState, text: str) -> None:
    problem = describe(error, INBOX)
    assert problem.state is state
    assert problem.text.startswith(text)


def test_nothing_is_due_before_the_first_outcome() -> None:
    assert not due(Health(1), T0)


def test_failures_count_and_each_is_reported() -> None:
    problem = Problem(InboxState.ERROR, "timed out")
    first = reported(failed(Health(1), problem), T0)
    second = failed(first, problem)
    assert (first.consecutive_failures, second.consecutive_failures) == (1, 2)
    assert due(second, T0 + timedelta(seconds=1))
    assert second.status(T0).push is None


def test_success_resets_and_is_reported_at_most_once_a_minute() -> None:
    broken = reported(failed(Health(1), Problem(InboxState.ERROR, "timed out")), T0)
    healed = succeeded(broken, T0 + timedelta(seconds=2), push=True)
    assert due(healed, T0 + timedelta(seconds=2))
    status = healed.status(T0 + timedelta(seconds=2))
    assert (status.state, status.last_error, status.consecutive_failures, status.push) == (InboxState.OK, None, 0, True)
    quiet = reported(healed, T0 + timedelta(seconds=2))
    assert not due(succeeded(quiet, T0 + timedelta(seconds=30), push=True), T0 + timedelta(seconds=30))
    assert due(succeeded(quiet, T0 + timedelta(seconds=63), push=False), T0 + timedelta(seconds=30))  # push changed
