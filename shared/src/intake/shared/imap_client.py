"""The one adapter over aioimaplib, `ImapClient`: connect (SSL, STARTTLS, none), authenticate (LOGIN,
XOAUTH2), select, search, fetch, store, expunge, IDLE, logout.

Every step runs under an outer `asyncio.timeout`, returns typed values, and raises only the
`ImapError` types of imap_errors.py. The workarounds for aioimaplib 2.0.3 (DESIGN §2) live here (those
at the command level) and in aioimaplib_patches.py (those below it: protocol and FETCH parsing), and
nowhere else, each covered by tests/integration/shared/test_imap.py against Dovecot:
- STARTTLS: aioimaplib has none; the transport is upgraded with `loop.start_tls` (`_starttls`).
- capabilities are re-read after every authentication (aioimaplib skips it after XOAUTH2).
- metadata FETCHes stay at MAX_FETCH_LINES messages (aioimaplib recursed per line of an answer), and
  callers of `fetch_bodies` still keep batches small (the fetcher: intake.fetcher.fetch_runs).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast

import aioimaplib
import structlog

from intake.shared import imap_responses, imap_utf7
from intake.shared.aioimaplib_patches import LinearFetchCommand, QuietImap4
from intake.shared.imap_errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectError,
    ImapError,
    ImapSettingsError,
    ImapTimeout,
    ImapTlsError,
)
from intake.shared.inbox_vocabulary import Encryption

log = structlog.get_logger(__name__)

T = TypeVar("T")

# One FETCH whose answer has ~1,000 lines makes aioimaplib recurse too deep (DESIGN §2).
MAX_FETCH_LINES = 200
# A body download may take longer than one command step: allow this many bytes per second on top.
BODY_BYTES_PER_SECOND = 1024 * 1024
LOGOUT_TIMEOUT_SECONDS = 5.0


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


class IdleEnd(StrEnum):
    """Why an IDLE ended."""

    NEW_MAIL = "new_mail"  # the server pushed EXISTS/RECENT
    WOKEN = "woken"  # the caller's event was set
    TIMED_OUT = "timed_out"  # the caller's time was up (re-issue IDLE or do a full check)


class Authenticator(Protocol):
    """How an inbox proves who it is: one strategy per auth mode (PasswordLogin, XOAuth2Login)."""

    async def authenticate(self, client: ImapClient) -> None: ...


@dataclass(frozen=True)
class PasswordLogin:
    """IMAP LOGIN with a username and password (RFC 3501 §6.2.3)."""

    username: str
    password: str = field(repr=False)

    async def authenticate(self, client: ImapClient) -> None:
        await client.login(self.username, self.password)


@dataclass(frozen=True)
class XOAuth2Login:
    """SASL XOAUTH2 with an OAuth2 access token (Google's and Microsoft's IMAP sign-in)."""

    username: str
    access_token: str = field(repr=False)

    async def authenticate(self, client: ImapClient) -> None:
        await client.xoauth2(self.username, self.access_token)


def tls_context(ca_certificate: str | None) -> ssl.SSLContext:
    """A client context verifying certificate and host name: against `ca_certificate` only when
    given (a private server's CA), else against the system trust store."""
    try:
        if ca_certificate:
            return ssl.create_default_context(cadata=ca_certificate)
        return ssl.create_default_context()
    except (ssl.SSLError, ValueError) as error:
        raise ImapSettingsError(f"ca_certificate is not a usable PEM certificate: {error}") from None


def _describe_tls(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {error.verify_message}"
    return f"TLS handshake failed: {error.reason or error}"


def _status_text(response: Any) -> str:
    lines = response.lines
    return bytes(lines[-1]).decode("utf-8", "replace") if lines else ""


_NEW_MAIL = re.compile(rb"^\d+ (EXISTS|RECENT)\b", re.I)
_NONEXISTENT = re.compile(r"\[NONEXISTENT\]", re.I)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _sasl_safe(value: str) -> bool:
    return not any(char in value for char in "\x00\x01\r\n")


class ImapClient:
    """One authenticated-or-not IMAP connection. Not safe for concurrent use; one inbox loop owns it."""

    def __init__(self, raw: QuietImap4, endpoint: ImapEndpoint, timeout: float) -> None:
        self._raw = raw
        self._endpoint = endpoint
        self._timeout = timeout
        self._lost = False
        self._lost_event = asyncio.Event()

    @classmethod
    async def connect(cls, endpoint: ImapEndpoint, step_seconds: float) -> ImapClient:
        """Open the connection, read the greeting and, for `tls`, switch to TLS with STARTTLS.

        TLS is verified (certificate and host name) before anything else is sent; without STARTTLS
        on offer, `tls` stops with ImapTlsError before any credentials could go out in clear.
        """
        context = tls_context(endpoint.ca_certificate) if endpoint.encryption is not Encryption.NONE else None
        holder: list[ImapClient] = []

        def connection_lost(_: Exception | None) -> None:
            if holder:
                holder[0]._mark_lost()

        implicit = context if endpoint.encryption is Encryption.SSL else None
        raw = QuietImap4(
            endpoint.host, endpoint.port, timeout=step_seconds, conn_lost_cb=connection_lost, ssl_context=implicit
        )
        client = cls(raw, endpoint, step_seconds)
        holder.append(client)
        try:
            await client._step("connect", raw.wait_hello_from_server)
            if endpoint.encryption is Encryption.TLS:
                assert context is not None
                await client._starttls(context)
        except ImapError:
            client.close()
            raise
        return client

    def _mark_lost(self) -> None:
        self._lost = True
        self._lost_event.set()

    async def _starttls(self, context: ssl.SSLContext) -> None:
        """STARTTLS (RFC 3501 §6.2.1) by upgrading aioimaplib's transport in place with `loop.start_tls`."""
        if "STARTTLS" not in self.capabilities:
            raise ImapTlsError("tls", "the server does not offer STARTTLS; refusing to continue without encryption")
        protocol = self._raw.protocol
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await self._step("tls", lambda: protocol.execute(command))
        if response.result != "OK":
            raise ImapTlsError("tls", f"the server refused STARTTLS: {_status_text(response)}")
        loop = asyncio.get_running_loop()
        transport = await self._step(
            "tls",
            lambda: loop.start_tls(protocol.transport, protocol, context, server_hostname=self._endpoint.host),
        )
        protocol.transport = transport
        # RFC 3501 §6.2.1: capabilities learnt before TLS must be discarded.
        await self.refresh_capabilities()

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
        except socket.gaierror as error:
            raise ImapConnectError(stage, f"host {self._endpoint.host!r} not found ({error.strerror})") from None
        except ConnectionRefusedError:
            endpoint = self._endpoint
            raise ImapConnectError(stage, f"connection refused by {endpoint.host} port {endpoint.port}") from None
        except OSError as error:
            raise ImapConnectError(stage, error.strerror or str(error) or type(error).__name__) from None
        except aioimaplib.AioImapException as error:
            if self._lost:
                raise ImapConnectError(stage, "the server closed the connection") from None
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

    async def xoauth2(self, username: str, access_token: str) -> None:
        """AUTHENTICATE XOAUTH2 (Google's and Microsoft's SASL profile): base64 of
        `user=<u>^Aauth=Bearer <token>^A^A`, sent at once where the server offers SASL-IR (RFC 4959),
        else after its first `+`. A rejected token fails at once with ImapAuthError."""
        if "AUTH=XOAUTH2" not in self.capabilities:
            raise ImapAuthError("login", "the server does not offer XOAUTH2 sign-in")
        if not (_sasl_safe(username) and _sasl_safe(access_token)):
            raise ImapAuthError("login", "the username or access token contains a control character")
        sasl = base64.b64encode(f"user={username}\x01auth=Bearer {access_token}\x01\x01".encode()).decode("ascii")
        protocol = self._raw.protocol
        if "SASL-IR" in self.capabilities:
            arguments: tuple[str, ...] = ("XOAUTH2", sasl)
            protocol.sasl_answer = None
        else:
            arguments = ("XOAUTH2",)
            protocol.sasl_answer = sasl.encode("ascii")
        command = aioimaplib.Command("AUTHENTICATE", protocol.new_tag(), *arguments, loop=protocol.loop)
        response = await self._step("login", lambda: protocol.execute(command))
        protocol.sasl_answer = None
        if response.result != "OK":
            detail = _status_text(response) or "sign-in refused"
            raise ImapAuthError("login", f"the server refused the OAuth2 access token: {detail}")
        protocol.state = aioimaplib.AUTH
        # aioimaplib does not re-read capabilities after XOAUTH2; servers announce more once signed in.
        await self.refresh_capabilities()

    async def refresh_capabilities(self) -> None:
        """Re-read CAPABILITY: servers announce more after authentication (aioimaplib does not re-read
        it after XOAUTH2, and parses the login response's capability code loosely)."""
        await self._step("capability", self._raw.protocol.capability)

    async def authenticate(self, authenticator: Authenticator) -> None:
        await authenticator.authenticate(self)

    async def select(self, folder: str) -> SelectedFolder:
        """SELECT `folder` (any Unicode name; sent in modified UTF-7). A folder that does not exist is
        ImapCommandError "folder 'X' does not exist"."""
        name = imap_responses.quote(imap_utf7.encode(folder))
        response = await self._step("select", lambda: self._raw.select(name))
        if response.result != "OK":
            status = _status_text(response)
            if _NONEXISTENT.search(status) or not await self._folder_exists(name):
                raise ImapCommandError("select", f"folder {folder!r} does not exist")
            raise ImapCommandError("select", f"folder {folder!r} cannot be selected: {status}")
        uidvalidity = imap_responses.parse_uidvalidity(response.lines)
        if uidvalidity is None:
            raise ImapCommandError("select", f"the server sent no UIDVALIDITY for folder {folder!r}")
        self._raw.protocol.new_mail_seen = False  # SELECT's own EXISTS is the folder as it is, not news
        return SelectedFolder(uidvalidity, imap_responses.parse_uidnext(response.lines))

    async def _folder_exists(self, quoted_name: str) -> bool:
        """LIST the exact name (servers without the NONEXISTENT response code, RFC 5530)."""
        protocol = self._raw.protocol
        response = await self._command("select", lambda: protocol.simple_command("LIST", '""', quoted_name))
        return any(bytes(line).upper().startswith(b"LIST ") for line in response.lines[:-1])

    async def noop(self) -> None:
        """NOOP: lets the server report new mail before a search (RFC 3501 §6.1.2) and proves the link works."""
        await self._command("noop", self._raw.noop)

    async def uid_search(self, *criteria: str) -> list[int]:
        self._raw.protocol.new_mail_seen = False  # this search sees all mail reported before it
        # No CHARSET argument: the criteria are ASCII, and some servers reject CHARSET outright.
        response = await self._command("search", lambda: self._raw.uid_search(*criteria, charset=None))
        return imap_responses.parse_search(response.lines)

    async def uid_exists(self, uid: int) -> bool:
        """Whether message `uid` is still in the folder (a set without `*` matches only existing UIDs)."""
        return uid in await self.uid_search("UID", str(uid))

    def _uid_fetch(self, message_set: str, parts: str) -> Awaitable[Any]:
        """`UID FETCH message_set parts` through `LinearFetchCommand`: aioimaplib's `uid("fetch", …)` (same
        inactivity timer) with linear response handling."""
        protocol = self._raw.protocol
        command = LinearFetchCommand(
            protocol.new_tag(), message_set, parts, prefix="UID", loop=protocol.loop, timeout=self._timeout
        )
        return cast(Awaitable[Any], protocol.execute(command))

    async def fetch_sizes(self, uids: Iterable[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID that still exists, in FETCHes of at most MAX_FETCH_LINES messages."""
        return {uid: listed.size for uid, listed in (await self.fetch_listing(uids)).items()}

    async def fetch_listing(self, uids: Iterable[int]) -> dict[int, imap_responses.Listed]:
        """RFC822.SIZE and INTERNALDATE (its arrival in the mailbox) of each UID that still exists, in
        FETCHes of at most MAX_FETCH_LINES messages: the same command that reads the sizes, so knowing
        when each message arrived costs no round trip and leaves the body FETCH as it is."""
        ordered = sorted(set(uids))
        listed: dict[int, imap_responses.Listed] = {}
        for start in range(0, len(ordered), MAX_FETCH_LINES):
            message_set = imap_responses.uid_set(ordered[start : start + MAX_FETCH_LINES])
            response = await self._command(
                "fetch", functools.partial(self._uid_fetch, message_set, "(UID RFC822.SIZE INTERNALDATE)")
            )
            listed.update(imap_responses.parse_listing(response.lines))
        return listed

    async def fetch_body(self, uid: int, size_hint: int = 0) -> bytes | bytearray | None:
        """The raw bytes of `uid` without setting \\Seen (BODY.PEEK, RFC 3501 §6.4.5); None if it is gone."""
        return (await self.fetch_bodies([uid], size_hint)).get(uid)

    async def fetch_bodies(self, uids: Iterable[int], size_hint: int = 0) -> dict[int, bytes | bytearray]:
        """UID → raw bytes of each of `uids` the server sent, with one UID FETCH, without setting
        \\Seen; a UID that is gone is missing. `size_hint` (their total size) extends the timeout.

        Callers keep a batch small (a few dozen small messages): the whole answer sits in memory
        until the command ends."""
        message_set = imap_responses.uid_set(uids)
        seconds = self._timeout + size_hint / BODY_BYTES_PER_SECOND
        response = await self._command(
            "fetch", functools.partial(self._uid_fetch, message_set, "(UID BODY.PEEK[])"), seconds=seconds
        )
        return imap_responses.parse_bodies(response.lines)

    async def fetch_header(self, uid: int) -> bytes | bytearray | None:
        """Only the header block of `uid`, without setting \\Seen (BODY.PEEK[HEADER]); None if it is gone."""
        response = await self._command("fetch", functools.partial(self._uid_fetch, str(uid), "(UID BODY.PEEK[HEADER])"))
        return imap_responses.parse_body(response.lines, uid, section="HEADER")

    async def add_flags(self, uid: int | Iterable[int], *flags: str) -> None:
        """UID STORE +FLAGS.SILENT: add `flags` to message `uid`, or to each of several UIDs with one
        command (a UID that is gone is not an error)."""
        message_set = str(uid) if isinstance(uid, int) else imap_responses.uid_set(uid)
        flag_list = "(" + " ".join(flags) + ")"
        await self._command("store", lambda: self._raw.uid("store", message_set, "+FLAGS.SILENT", flag_list))

    @property
    def supports_uid_expunge(self) -> bool:
        return "UIDPLUS" in self.capabilities

    async def uid_expunge(self, uid: int) -> None:
        """UID EXPUNGE (RFC 4315): remove only `uid`, never other \\Deleted messages."""
        if not self.supports_uid_expunge:
            raise ImapCommandError("expunge", "the server does not support UID EXPUNGE (UIDPLUS)")
        await self._command("expunge", lambda: self._raw.uid("expunge", str(uid)))

    @property
    def supports_idle(self) -> bool:
        return "IDLE" in self.capabilities

    async def idle(self, seconds: float, wake: asyncio.Event) -> IdleEnd:
        """IDLE (RFC 2177) until the server reports new mail, `wake` is set or `seconds` pass; then DONE.

        Wraps aioimaplib's idle_start/wait_server_push/idle_done with the outer timeouts: starting
        and ending IDLE are steps; a dropped connection ends it with ImapConnectError at once.
        Pushes other than EXISTS/RECENT (flag changes, "still here") keep it going.
        """
        if not self.supports_idle:
            raise ImapCommandError("idle", "the server does not support IDLE")
        raw = self._raw
        if raw.protocol.new_mail_seen:
            # New mail was reported since the last search (in another command's answer): IDLE would
            # not report it again, so the caller must look now.
            return IdleEnd.NEW_MAIL
        queue: asyncio.Queue[Any] = raw.protocol.idle_queue
        while not queue.empty():  # pushes left from an earlier IDLE: the caller checked after it
            queue.get_nowait()
        # aioimaplib's own stop timer is set past ours: we end IDLE ourselves.
        idle_task = await self._step("idle", lambda: raw.idle_start(timeout=seconds + 2 * self._timeout))
        idle_task.add_done_callback(_retrieve)  # a lost connection fails it; that is reported by _wait_push
        ended = False
        try:
            end = await self._wait_push(queue, seconds, wake)
            raw.idle_done()
            ended = True
            response = await self._step("idle", lambda: asyncio.shield(idle_task))
            if response.result != "OK":
                raise ImapCommandError("idle", f"{response.result} {_status_text(response)}".strip())
            return end
        finally:
            if not ended and not self._lost and raw.has_pending_idle():
                raw.idle_done()  # cancelled or failed: leave the connection usable for LOGOUT

    async def _wait_push(self, queue: asyncio.Queue[Any], seconds: float, wake: asyncio.Event) -> IdleEnd:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        woken = asyncio.ensure_future(wake.wait())
        lost = asyncio.ensure_future(self._lost_event.wait())
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return IdleEnd.TIMED_OUT
                pushed = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {pushed, woken, lost}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if pushed in done:
                    lines = pushed.result()
                    if lines is aioimaplib.STOP_WAIT_SERVER_PUSH:
                        return IdleEnd.TIMED_OUT
                    if any(_NEW_MAIL.match(bytes(line)) for line in lines if isinstance(line, bytes | bytearray)):
                        return IdleEnd.NEW_MAIL
                    continue
                pushed.cancel()
                if lost in done:
                    raise ImapConnectError("idle", "the server closed the connection")
                if woken in done:
                    return IdleEnd.WOKEN
        finally:
            woken.cancel()
            lost.cancel()

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
