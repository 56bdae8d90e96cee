"""The one adapter over aioimaplib: connect, authenticate, select, search, fetch, store, expunge, logout.

Every step runs under an outer `asyncio.timeout`, returns typed values, and raises only the
`ImapError` types of imap_errors.py. Workarounds for aioimaplib 2.0.3 (DESIGN §2) live here and nowhere
else: no per-chunk debug formatting, capabilities re-read after authentication, small FETCHes only.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import aioimaplib
import structlog

from intake.shared import imap_responses
from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapError,
    ImapSettingsError,
    ImapTimeout,
    ImapTlsError,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

# One FETCH whose answer has ~1,000 lines makes aioimaplib recurse too deep (DESIGN §2).
MAX_FETCH_LINES = 200
# A body download may take longer than one command step: allow this many bytes per second on top.
BODY_BYTES_PER_SECOND = 1024 * 1024
LOGOUT_TIMEOUT_SECONDS = 5.0


class Encryption(StrEnum):
    SSL = "ssl"  # implicit TLS from the first byte
    TLS = "tls"  # STARTTLS on the plain port
    NONE = "none"


@dataclass(frozen=True)
class ImapEndpoint:
    """Where and how to connect. Certificates and host names are always verified."""

    host: str
    port: int
    encryption: Encryption
    ca_certificate: str | None = None


@dataclass(frozen=True)
class SelectedFolder:
    uidvalidity: int
    uidnext: int | None


class Authenticator(Protocol):
    """How an inbox proves who it is: one strategy per auth mode (password now; XOAUTH2 later)."""

    async def authenticate(self, client: ImapClient) -> None: ...


@dataclass(frozen=True)
class PasswordLogin:
    """IMAP LOGIN with a username and password (RFC 3501 §6.2.3)."""

    username: str
    password: str = field(repr=False)

    async def authenticate(self, client: ImapClient) -> None:
        await client.login(self.username, self.password)


def tls_context(ca_certificate: str | None) -> ssl.SSLContext:
    """A client context verifying certificate and host name: against `ca_certificate` only when
    given (a private server's CA), else against the system trust store."""
    try:
        if ca_certificate:
            return ssl.create_default_context(cadata=ca_certificate)
        return ssl.create_default_context()
    except (ssl.SSLError, ValueError) as error:
        raise ImapSettingsError(f"ca_certificate is not a usable PEM certificate: {error}") from None


class _QuietProtocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol without the debug line it formats for every received chunk, even with
    logging off (4.5x slower on large fetches, DESIGN §2). Same parsing otherwise."""

    incomplete_line: bytes
    current_command: Any

    def data_received(self, d: bytes) -> None:
        try:
            self._handle_responses(self.incomplete_line + d, self._handle_line, self.current_command)
            self.incomplete_line = b""
            self.current_command = None
        except aioimaplib.IncompleteRead as incomplete_read:
            self.current_command = incomplete_read.cmd
            self.incomplete_line = incomplete_read.data


class _Imap4(aioimaplib.IMAP4):  # type: ignore[misc]
    """aioimaplib's client over `_QuietProtocol`; TLS only when an SSL context is passed."""

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _QuietProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


def _describe_tls(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {error.verify_message}"
    return f"TLS handshake failed: {error.reason or error}"


def _status_text(response: Any) -> str:
    lines = response.lines
    return bytes(lines[-1]).decode("utf-8", "replace") if lines else ""


class ImapClient:
    """One authenticated-or-not IMAP connection. Not safe for concurrent use; one inbox loop owns it."""

    def __init__(self, raw: _Imap4, endpoint: ImapEndpoint, timeout: float) -> None:
        self._raw = raw
        self._endpoint = endpoint
        self._timeout = timeout
        self._lost = False

    @classmethod
    async def connect(cls, endpoint: ImapEndpoint, step_seconds: float) -> ImapClient:
        """Open the connection and read the greeting; TLS is verified before anything is sent."""
        if endpoint.encryption is Encryption.TLS:
            # Issue 3: upgrade with loop.start_tls (aioimaplib has no STARTTLS). Never fall back to clear text.
            raise ImapSettingsError("STARTTLS (encryption 'tls') is not supported yet; use 'ssl' or 'none'")
        context = tls_context(endpoint.ca_certificate) if endpoint.encryption is Encryption.SSL else None
        holder: list[ImapClient] = []

        def connection_lost(_: Exception | None) -> None:
            if holder:
                holder[0]._lost = True

        raw = _Imap4(
            endpoint.host, endpoint.port, timeout=step_seconds, conn_lost_cb=connection_lost, ssl_context=context
        )
        client = cls(raw, endpoint, step_seconds)
        holder.append(client)
        try:
            await client._step("connect", raw.wait_hello_from_server)
        except ImapError:
            client.close()
            raise
        return client

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(str(c).upper() for c in self._raw.protocol.capabilities)

    async def _step(self, stage: str, operation: Callable[[], Awaitable[T]], seconds: float | None = None) -> T:
        if self._lost:
            raise ImapConnectError(stage, "the server closed the connection")
        limit = seconds if seconds is not None else self._timeout
        try:
            async with asyncio.timeout(limit):
                return await operation()
        except (TimeoutError, aioimaplib.CommandTimeout):
            raise ImapTimeout(stage, f"no answer within {limit:g} seconds") from None
        except ssl.SSLError as error:
            raise ImapTlsError("tls", _describe_tls(error)) from None
        except OSError as error:
            raise ImapConnectError(stage, error.strerror or str(error) or type(error).__name__) from None
        except aioimaplib.AioImapException as error:
            raise ImapCommandError(stage, str(error) or type(error).__name__) from None

    async def _command(self, stage: str, operation: Callable[[], Awaitable[Any]], seconds: float | None = None) -> Any:
        response = await self._step(stage, operation, seconds)
        if response.result != "OK":
            raise ImapCommandError(stage, f"{response.result} {_status_text(response)}".strip())
        return response

    async def login(self, username: str, password: str) -> None:
        try:
            response = await self._step("login", lambda: self._raw.login(username, password))
        except ValueError:  # aioimaplib refuses CR/LF/NUL in arguments; say so without the value
            raise ImapAuthError("login", "the username or password contains a line break or NUL") from None
        if response.result != "OK":
            raise ImapAuthError("login", _status_text(response) or "login refused")
        await self.refresh_capabilities()

    async def refresh_capabilities(self) -> None:
        """Re-read CAPABILITY: servers announce more after authentication (aioimaplib does not re-read
        it after XOAUTH2, and parses the login response's capability code loosely)."""
        await self._step("capability", self._raw.protocol.capability)

    async def authenticate(self, authenticator: Authenticator) -> None:
        await authenticator.authenticate(self)

    async def select(self, folder: str) -> SelectedFolder:
        name = imap_responses.quote(imap_responses.encode_mailbox(folder))
        response = await self._step("select", lambda: self._raw.select(name))
        if response.result != "OK":
            raise ImapCommandError("select", f"folder {folder!r} cannot be selected: {_status_text(response)}")
        uidvalidity = imap_responses.parse_uidvalidity(response.lines)
        if uidvalidity is None:
            raise ImapCommandError("select", f"the server sent no UIDVALIDITY for folder {folder!r}")
        return SelectedFolder(uidvalidity, imap_responses.parse_uidnext(response.lines))

    async def noop(self) -> None:
        """NOOP: lets the server report new mail before a search (RFC 3501 §6.1.2) and proves the link works."""
        await self._command("noop", self._raw.noop)

    async def uid_search(self, *criteria: str) -> list[int]:
        # No CHARSET argument: the criteria are ASCII, and some servers reject CHARSET outright.
        response = await self._command("search", lambda: self._raw.uid_search(*criteria, charset=None))
        return imap_responses.parse_search(response.lines)

    async def fetch_sizes(self, uids: Iterable[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID that still exists, in FETCHes of at most MAX_FETCH_LINES messages."""
        ordered = sorted(set(uids))
        sizes: dict[int, int] = {}
        for start in range(0, len(ordered), MAX_FETCH_LINES):
            message_set = imap_responses.uid_set(ordered[start : start + MAX_FETCH_LINES])
            response = await self._command(
                "fetch", functools.partial(self._raw.uid, "fetch", message_set, "(UID RFC822.SIZE)")
            )
            sizes.update(imap_responses.parse_sizes(response.lines))
        return sizes

    async def fetch_body(self, uid: int, size_hint: int = 0) -> bytes | None:
        """The raw bytes of `uid` without setting \\Seen (BODY.PEEK, RFC 3501 §6.4.5); None if it is gone."""
        seconds = self._timeout + size_hint / BODY_BYTES_PER_SECOND
        response = await self._command(
            "fetch", lambda: self._raw.uid("fetch", str(uid), "(UID BODY.PEEK[])"), seconds=seconds
        )
        return imap_responses.parse_body(response.lines, uid)

    async def add_flags(self, uid: int, *flags: str) -> None:
        """UID STORE +FLAGS.SILENT: add `flags` to message `uid` (a UID that is gone is not an error)."""
        flag_list = "(" + " ".join(flags) + ")"
        await self._command("store", lambda: self._raw.uid("store", str(uid), "+FLAGS.SILENT", flag_list))

    @property
    def supports_uid_expunge(self) -> bool:
        return "UIDPLUS" in self.capabilities

    async def uid_expunge(self, uid: int) -> None:
        """UID EXPUNGE (RFC 4315): remove only `uid`, never other \\Deleted messages."""
        if not self.supports_uid_expunge:
            raise ImapCommandError("expunge", "the server does not support UID EXPUNGE (UIDPLUS)")
        await self._command("expunge", lambda: self._raw.uid("expunge", str(uid)))

    async def logout(self) -> None:
        """Say goodbye if the connection still works, then close it; never raises."""
        try:
            if not self._lost:
                await self._step("logout", self._raw.logout, seconds=min(self._timeout, LOGOUT_TIMEOUT_SECONDS))
        except ImapError as error:
            log.debug("logout failed", host=self._endpoint.host, error=str(error))
        finally:
            self.close()

    def close(self) -> None:
        """Drop the connection at once (no LOGOUT)."""
        self._lost = True
        task = getattr(self._raw, "_client_task", None)
        if task is not None and not task.done():
            task.cancel()
        transport = self._raw.protocol.transport
        if transport is not None:
            transport.close()
