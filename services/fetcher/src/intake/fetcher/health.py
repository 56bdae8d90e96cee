"""An inbox's health as the fetcher sees it, the words that explain a failure, and when to report it (pure).

The poller feeds successes and failures in; `InboxStatus` events come out on every change of state
or error and, while all is well, at most once per REPORT_OK_EVERY (DESIGN §1: ok, error,
needs_reauth, disabled). No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from intake.fetcher.errors import AccessTokenError, AccessTokenRefused, NeedsReauth
from intake.shared.contracts import InboxState, InboxStatus
from intake.shared.imap_error_words import Attempt, in_words
from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapError,
    ImapSettingsError,
    ImapTimeout,
    ImapTlsError,
)

REPORT_OK_EVERY = timedelta(minutes=1)

# The kinds of failure counted in `intake_fetch_errors_total{kind}`: a small fixed set (see `error_kind`).
ERROR_KINDS = ("connect", "tls", "auth", "command", "timeout", "protocol", "settings", "access_token", "internal")


@dataclass(frozen=True)
class Problem:
    """What a failure means for the inbox: its state and a sentence a person can act on."""

    state: InboxState
    text: str


def describe(error: BaseException, attempt: Attempt) -> Problem:
    """The state and words for `error` while watching the inbox `attempt` names (IMAP failures are
    worded as the console's connection test words them: `imap_error_words.in_words`).

    >>> inbox = Attempt("mail.example.com", 993, "ssl", "ann", "INBOX")
    >>> describe(ImapAuthError("login", "[AUTHENTICATIONFAILED] Authentication failed."), inbox).text
    "wrong password: the server refused the login for 'ann' ([AUTHENTICATIONFAILED] Authentication failed.)"
    >>> describe(ImapTimeout("select", "no answer within 30 seconds"), inbox).text
    'timed out opening the folder: no answer within 30 seconds'
    >>> describe(NeedsReauth("the refresh token was revoked"), inbox).state
    <InboxState.NEEDS_REAUTH: 'needs_reauth'>
    """
    if isinstance(error, NeedsReauth):
        return Problem(InboxState.NEEDS_REAUTH, f"sign-in with OAuth2 must be renewed: {error.reason}")
    if isinstance(error, AccessTokenRefused):
        return Problem(InboxState.ERROR, error.reason)
    if isinstance(error, AccessTokenError):
        return Problem(InboxState.ERROR, f"no OAuth2 access token: {error.reason}")
    if isinstance(error, ImapError | ImapSettingsError):
        return Problem(InboxState.ERROR, in_words(error, attempt))
    return Problem(InboxState.ERROR, f"internal error: {type(error).__name__}: {error}")


def error_kind(error: BaseException) -> str:
    """The metric label for `error`, one of ERROR_KINDS.

    >>> error_kind(ImapAuthError("login", "[AUTHENTICATIONFAILED] Authentication failed."))
    'auth'
    >>> error_kind(NeedsReauth("the refresh token was revoked"))
    'access_token'
    >>> error_kind(KeyError("x"))
    'internal'
    """
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (ImapConnectError, "connect"),
        (ImapTlsError, "tls"),
        (ImapAuthError, "auth"),
        (ImapCommandError, "command"),
        (ImapTimeout, "timeout"),
        (ImapError, "protocol"),
        (ImapSettingsError, "settings"),
        (AccessTokenError, "access_token"),
    )
    return next((kind for cls, kind in kinds if isinstance(error, cls)), "internal")


@dataclass(frozen=True)
class Health:
    """The last known health of one inbox and when it was last reported."""

    inbox_id: int
    state: InboxState | None = None  # None until the first success or failure
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    push: bool | None = None
    reported_at: datetime | None = None
    reported: InboxStatus | None = None

    def status(self, now: datetime) -> InboxStatus:
        return InboxStatus(
            inbox_id=self.inbox_id,
            state=self.state or InboxState.OK,
            last_success_at=self.last_success_at,
            last_error=self.last_error,
            consecutive_failures=self.consecutive_failures,
            push=self.push,
            reported_at=now,
        )


def succeeded(health: Health, now: datetime, push: bool) -> Health:
    """A cycle completed: the inbox is ok and failures are forgotten."""
    return replace(health, state=InboxState.OK, last_success_at=now, last_error=None, consecutive_failures=0, push=push)


def failed(health: Health, problem: Problem) -> Health:
    """A session failed with `problem`."""
    return replace(
        health,
        state=problem.state,
        last_error=problem.text,
        consecutive_failures=health.consecutive_failures + 1,
        push=None if problem.state is not InboxState.OK else health.push,
    )


def due(health: Health, now: datetime) -> bool:
    """Whether `health` should be published now: first report, any change but the time of the last
    success, or an ok inbox whose last report is older than REPORT_OK_EVERY.

    >>> from datetime import UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> h = succeeded(Health(1), t, push=True)
    >>> due(h, t)
    True
    >>> h = reported(h, t)
    >>> due(succeeded(h, t + timedelta(seconds=5), push=True), t + timedelta(seconds=5))
    False
    >>> due(succeeded(h, t + timedelta(seconds=61), push=True), t + timedelta(seconds=61))
    True
    >>> due(failed(h, Problem(InboxState.ERROR, "timed out")), t + timedelta(seconds=5))
    True
    """
    if health.state is None:
        return False
    last = health.reported
    if last is None or health.reported_at is None:
        return True
    changed = (last.state, last.last_error, last.consecutive_failures, last.push) != (
        health.state,
        health.last_error,
        health.consecutive_failures,
        health.push,
    )
    return changed or now - health.reported_at >= REPORT_OK_EVERY


def reported(health: Health, now: datetime) -> Health:
    """`health` after its status was published at `now`."""
    return replace(health, reported_at=now, reported=health.status(now))
