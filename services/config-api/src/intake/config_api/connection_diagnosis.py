"""What a failed connection test tells a person: the step that failed (connect, TLS, login, select folder)
and why, in words that say what to check.

Pure: from the IMAP adapter's errors (intake.shared.imap_errors) to a `Diagnosis`: the step here, the
words from `intake.shared.imap_error_words` (the fetcher's inbox health says them alike). It never
sees a password, so no detail can carry one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from intake.shared.imap_error_words import Attempt, in_words
from intake.shared.imap_errors import ImapAuthError, ImapError, ImapSettingsError, ImapTlsError


class Stage(StrEnum):
    """The steps of a connection test, in order."""

    CONNECT = "connect"
    TLS = "tls"
    LOGIN = "login"
    SELECT = "select"


@dataclass(frozen=True)
class Diagnosis:
    ok: bool
    stage: Stage
    detail: str


# The adapter's stage names beyond the four steps: `capability` is read right after login.
_STAGES = {"connect": Stage.CONNECT, "tls": Stage.TLS, "login": Stage.LOGIN, "capability": Stage.LOGIN}


def host_not_found(attempt: Attempt, reason: str) -> Diagnosis:
    """The host name has no address.

    >>> host_not_found(Attempt("imap.nowhere.invalid", 993, "ssl", "u", "INBOX"), "Name or service not known").detail
    "host not found: 'imap.nowhere.invalid' has no DNS address (Name or service not known); check the host name"
    """
    return Diagnosis(
        False,
        Stage.CONNECT,
        f"host not found: {attempt.host!r} has no DNS address ({reason}); check the host name",
    )


def succeeded(attempt: Attempt) -> Diagnosis:
    how = {"ssl": "over TLS", "tls": "upgraded to TLS with STARTTLS", "none": "without encryption"}
    how_text = how.get(attempt.encryption, attempt.encryption)
    return Diagnosis(
        True,
        Stage.SELECT,
        f"connected to {attempt.host}:{attempt.port} {how_text}, logged in as {attempt.username!r}"
        f" and opened folder {attempt.folder!r}",
    )


def login_unavailable(reason: str) -> Diagnosis:
    return Diagnosis(False, Stage.LOGIN, reason)


def diagnose(error: ImapError | ImapSettingsError, attempt: Attempt) -> Diagnosis:
    """The step that failed and what a person should check (the words: `imap_error_words.in_words`).

    >>> a = Attempt("mail.example.com", 993, "ssl", "ann", "Support")
    >>> diagnose(ImapAuthError("login", "[AUTHENTICATIONFAILED] Authentication failed."), a).stage
    <Stage.LOGIN: 'login'>
    >>> diagnose(ImapTlsError("tls", "certificate verification failed: certificate has expired"), a).stage
    <Stage.TLS: 'tls'>
    """
    if isinstance(error, ImapSettingsError | ImapTlsError):
        stage = Stage.TLS
    elif isinstance(error, ImapAuthError):
        stage = Stage.LOGIN
    else:
        stage = _STAGES.get(error.stage, Stage.SELECT)
    return Diagnosis(False, stage, in_words(error, attempt))
