"""Why talking to an IMAP server failed: the errors of the IMAP adapter (intake.shared.imap_client).

    ImapSettingsError      the inbox's settings cannot work as they are (unusable CA certificate,
                           missing password); retried slowly until the settings change
    ImapError              talking to the IMAP server failed; `stage` says where
     ├── ImapConnectError     TCP connect or greeting failed
     ├── ImapTlsError         TLS handshake or certificate/host name verification failed
     ├── ImapAuthError        the server refused the login
     ├── ImapCommandError     the server answered NO/BAD to a command (e.g. unknown folder)
     └── ImapTimeout          a step took longer than the IMAP timeout

Every ImapError ends the connection. Normal results (no new mail, a message that vanished) are
values, never exceptions. Messages never contain secrets.
"""

from __future__ import annotations


class ImapSettingsError(Exception):
    """The inbox's settings cannot work as they are; `reason` says what to change."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImapError(Exception):
    """An IMAP step failed. `stage` is one of connect, tls, login, capability, select, noop, search, fetch,
    store, expunge, idle, logout."""

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage = stage
        self.detail = detail


class ImapConnectError(ImapError):
    """The server could not be reached or did not greet."""


class ImapTlsError(ImapError):
    """TLS failed: handshake, certificate or host name verification."""


class ImapAuthError(ImapError):
    """The server refused the credentials."""


class ImapCommandError(ImapError):
    """The server answered NO or BAD."""


class ImapTimeout(ImapError):
    """A step did not finish within the IMAP timeout."""
