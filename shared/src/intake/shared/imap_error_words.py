"""What an IMAP failure means, in words a person can act on: one wording for the connection test and the health.

From the IMAP adapter's errors (`imap_errors`) and what was tried (`Attempt`, never the password, so no
sentence can carry one) to one sentence: what failed, while doing what, and what to check. The
console's connection test (config-api) and the inbox health the fetcher reports both say it so. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapError,
    ImapSettingsError,
    ImapTimeout,
    ImapTlsError,
)


@dataclass(frozen=True)
class Attempt:
    """What was tried, for the sentences: never the password."""

    host: str
    port: int
    encryption: str  # ssl, tls or none
    username: str
    folder: str


# What the adapter was doing at each of its stages (`ImapError.stage`).
_DOING = {
    "connect": "waiting for the server's greeting",
    "tls": "setting up TLS",
    "login": "logging in",
    "capability": "logging in",  # read right after the login
    "select": "opening the folder",
    "noop": "checking for new mail",
    "idle": "waiting for new mail (IDLE)",
    "search": "looking for new messages",
    "fetch": "fetching messages",
    "store": "flagging a message",
    "expunge": "removing a deleted message",
    "logout": "logging out",
}


def doing(stage: str) -> str:
    """The words for what the adapter was doing at `stage`.

    >>> doing("fetch"), doing("capability"), doing("rename")
    ('fetching messages', 'logging in', 'at rename')
    """
    return _DOING.get(stage, f"at {stage}")


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


def _connect_words(error: ImapConnectError, attempt: Attempt) -> str:
    if isinstance(error.__context__, ConnectionRefusedError) or "refused" in error.detail.lower():
        return (
            f"connection refused: nothing accepts connections on {attempt.host}:{attempt.port};"
            " check the port (IMAP over TLS is usually 993, plain IMAP and STARTTLS 143)"
        )
    if error.stage == "connect" and " not found (" in error.detail:  # the adapter's words for a DNS failure
        return f"host not found: {attempt.host!r} has no DNS address ({error.detail}); check the host name"
    if "closed the connection" in error.detail:
        return f"the server closed the connection while {doing(error.stage)}"
    if error.stage == "connect":
        return f"cannot connect to {attempt.host}:{attempt.port}: {error.detail}"
    return f"connection lost while {doing(error.stage)}: {error.detail}"


def in_words(error: ImapError | ImapSettingsError, attempt: Attempt) -> str:
    """What `error` means and what to check, in one sentence.

    >>> a = Attempt("mail.example.com", 993, "ssl", "ann", "Support")
    >>> in_words(ImapAuthError("login", "[AUTHENTICATIONFAILED] Authentication failed."), a)
    "wrong password: the server refused the login for 'ann' ([AUTHENTICATIONFAILED] Authentication failed.)"
    >>> in_words(ImapCommandError("select", "folder 'Support' does not exist"), a)
    "folder missing: there is no folder 'Support' in this mailbox (folder names are case-sensitive, except INBOX)"
    >>> in_words(ImapTimeout("fetch", "no answer within 30 seconds"), a)
    'timed out fetching messages: no answer within 30 seconds'
    >>> in_words(ImapSettingsError("no password is set for this inbox"), a)
    "the inbox's settings cannot be used: no password is set for this inbox"
    """
    if isinstance(error, ImapSettingsError):
        return f"the inbox's settings cannot be used: {error.reason}"
    if isinstance(error, ImapTimeout):
        hint = (
            "; check the host and port, a firewall may be dropping the connection"
            + (", or the port expects TLS: try encryption 'ssl'" if attempt.encryption != "ssl" else "")
            if error.stage == "connect"
            else ""
        )
        return f"timed out {doing(error.stage)}: {error.detail}{hint}"
    if isinstance(error, ImapTlsError):
        return _tls_words(attempt, error.detail)
    if isinstance(error, ImapConnectError):
        return _connect_words(error, attempt)
    if isinstance(error, ImapAuthError):
        if "OAuth2" in error.detail or "XOAUTH2" in error.detail:
            return f"OAuth2 sign-in failed: {error.detail}"
        if "line break or NUL" in error.detail:
            return error.detail
        return f"wrong password: the server refused the login for {attempt.username!r} ({error.detail})"
    if isinstance(error, ImapCommandError) and error.stage == "select":
        if "does not exist" in error.detail:
            return (
                f"folder missing: there is no folder {attempt.folder!r} in this mailbox"
                " (folder names are case-sensitive, except INBOX)"
            )
        return f"the folder cannot be opened: {error.detail}"
    return f"the server answered with an error while {doing(error.stage)}: {error.detail}"
