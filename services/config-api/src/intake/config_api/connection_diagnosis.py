"""What a failed connection test tells a person: the step that failed (connect, TLS, login, select folder)
and why, in words that say what to check.

Pure: from the IMAP adapter's errors (intake.shared.imap_errors) to a `Diagnosis`; it never sees a
password, so no detail can carry one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapError,
    ImapSettingsError,
    ImapTimeout,
    ImapTlsError,
)


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


@dataclass(frozen=True)
class Attempt:
    """What was tried, for the sentences: never the password."""

    host: str
    port: int
    encryption: str  # ssl, tls or none
    username: str
    folder: str


# The adapter's stage names beyond the four steps: `capability` is read right after login.
_STAGES = {"connect": Stage.CONNECT, "tls": Stage.TLS, "login": Stage.LOGIN, "capability": Stage.LOGIN}
_DOING = {
    Stage.CONNECT: "waiting for the server's greeting",
    Stage.TLS: "setting up TLS",
    Stage.LOGIN: "logging in",
    Stage.SELECT: "opening the folder",
}


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


def _tls_words(attempt: Attempt, detail: str) -> str:
    lowered = detail.lower().replace("_", " ")
    if "does not offer starttls" in lowered:
        return (
            f"STARTTLS not offered: the server on port {attempt.port} does not offer STARTTLS, so Intake will not"
            " continue without encryption; use encryption 'ssl' (usually port 993) or enable STARTTLS on the server"
        )
    if "refused starttls" in lowered:
        return f"STARTTLS refused by the server: {detail}"
    if "certificate verification failed" in lowered:
        if "hostname mismatch" in lowered or "ip address mismatch" in lowered:
            return (
                f"certificate not valid for this host: the server's certificate does not name {attempt.host!r};"
                f" use the host name the certificate was issued for ({detail})"
            )
        if "expired" in lowered:
            return f"certificate expired: the server's certificate is no longer valid ({detail})"
        return (
            "certificate not trusted: the server's certificate is not signed by a trusted authority"
            f" ({detail}); for a private server, give its CA certificate in ca_certificate"
        )
    if "wrong version number" in lowered or "unexpected eof" in lowered or "record layer" in lowered:
        hint = (
            "use encryption 'tls' (STARTTLS) or 'none' for this port, or the server's TLS port (usually 993)"
            if attempt.encryption == "ssl"
            else "check the port and the encryption"
        )
        return f"no TLS on port {attempt.port}: the server did not answer with TLS ({detail}); {hint}"
    return f"TLS failed: {detail}"


def diagnose(error: ImapError | ImapSettingsError, attempt: Attempt) -> Diagnosis:
    """The step that failed and what a person should check.

    >>> a = Attempt("mail.example.com", 993, "ssl", "ann", "Support")
    >>> diagnose(ImapAuthError("login", "[AUTHENTICATIONFAILED] Authentication failed."), a).detail
    "wrong password: the server refused the login for 'ann' ([AUTHENTICATIONFAILED] Authentication failed.)"
    >>> diagnose(ImapCommandError("select", "folder 'Support' does not exist"), a).detail
    "folder missing: there is no folder 'Support' in this mailbox (folder names are case-sensitive, except INBOX)"
    """
    if isinstance(error, ImapSettingsError):
        return Diagnosis(False, Stage.TLS, f"the TLS settings cannot be used: {error.reason}")
    stage = _STAGES.get(error.stage, Stage.SELECT)
    if isinstance(error, ImapTimeout):
        hint = {
            Stage.CONNECT: "; check the host and port, a firewall may be dropping the connection"
            + (", or the port expects TLS: try encryption 'ssl'" if attempt.encryption != "ssl" else ""),
        }.get(stage, "")
        return Diagnosis(False, stage, f"timed out {_DOING[stage]}: {error.detail}{hint}")
    if isinstance(error, ImapTlsError):
        return Diagnosis(False, Stage.TLS, _tls_words(attempt, error.detail))
    if isinstance(error, ImapConnectError):
        if isinstance(error.__context__, ConnectionRefusedError) or "refused" in error.detail.lower():
            return Diagnosis(
                False,
                stage,
                f"connection refused: nothing accepts connections on {attempt.host}:{attempt.port};"
                " check the port (IMAP over TLS is usually 993, plain IMAP and STARTTLS 143)",
            )
        if "closed the connection" in error.detail:
            return Diagnosis(False, stage, f"the server closed the connection while {_DOING[stage]}")
        return Diagnosis(False, stage, f"cannot connect to {attempt.host}:{attempt.port}: {error.detail}")
    if isinstance(error, ImapAuthError):
        if "OAuth2" in error.detail or "XOAUTH2" in error.detail:
            return Diagnosis(False, Stage.LOGIN, f"OAuth2 sign-in failed: {error.detail}")
        if "line break or NUL" in error.detail:
            return Diagnosis(False, Stage.LOGIN, error.detail)
        return Diagnosis(
            False,
            Stage.LOGIN,
            f"wrong password: the server refused the login for {attempt.username!r} ({error.detail})",
        )
    if isinstance(error, ImapCommandError) and stage is Stage.SELECT:
        if "does not exist" in error.detail:
            return Diagnosis(
                False,
                Stage.SELECT,
                f"folder missing: there is no folder {attempt.folder!r} in this mailbox"
                " (folder names are case-sensitive, except INBOX)",
            )
        return Diagnosis(False, Stage.SELECT, f"the folder cannot be opened: {error.detail}")
    return Diagnosis(False, stage, f"the server answered with an error while {_DOING[stage]}: {error.detail}")
