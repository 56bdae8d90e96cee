"""aioimaplib 2.0.3, patched below the command level (DESIGN §2): the protocol, the FETCH command and
the client class that ImapClient (imap_client.py) drives. Each workaround is covered by
tests/integration/shared/test_imap.py against Dovecot:
- a rejected XOAUTH2 token: the server's `+` challenge is answered with an empty line
  (`QuietProtocol._continuation`), so the server says NO instead of waiting for ever.
- RecursionError on a FETCH answer of ~1,000 lines: responses are split in a loop, not by recursion
  (`QuietProtocol._handle_responses`).
- quadratic parsing of batched fetches (aioimaplib re-joins every line of the answer after each
  line to match parentheses): `LinearFetchCommand` keeps the count as lines arrive.
- no per-chunk (or per-command) debug formatting (`QuietProtocol.data_received`, `send`).
- a connection that drops fails the pending commands at once instead of leaving them waiting.
- new mail reported outside IDLE is remembered (`QuietProtocol.new_mail_seen`).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable
from typing import Any

import aioimaplib

_EXISTS = re.compile(rb"^\d+ EXISTS\b", re.I)


class QuietProtocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol with the workarounds that live below the command level (DESIGN §2)."""

    incomplete_line: bytes
    current_command: Any
    pending_sync_command: Any
    pending_async_commands: dict[str, Any]
    transport: Any

    def __init__(
        self, loop: asyncio.AbstractEventLoop, conn_lost_cb: Callable[[Exception | None], None] | None
    ) -> None:
        super().__init__(loop, conn_lost_cb)
        # What to send at the server's first `+` during AUTHENTICATE (the SASL response when the
        # server lacks SASL-IR); every later `+` gets an empty line.
        self.sasl_answer: bytes | None = None
        # Set when the server reported new mail (EXISTS) outside IDLE. aioimaplib files such a
        # line under the running sync command, or drops it ("ignored untagged response") while an
        # async command such as FETCH or SEARCH runs; either way IDLE would never hear of that mail,
        # since the server reports each change once. Cleared by SELECT and when a UID SEARCH starts.
        self.new_mail_seen = False

    def _untagged_response(self, line: bytes) -> Any:
        if _EXISTS.match(line.replace(b"* ", b"", 1)):
            self.new_mail_seen = True
        return super()._untagged_response(line)

    def data_received(self, d: bytes) -> None:
        # Without aioimaplib's `log.debug('Received : %s' % d)`: it formats every chunk even with
        # logging off (4.5x slower on large fetches).
        try:
            self._handle_responses(self.incomplete_line + d, self._handle_line, self.current_command)
            self.incomplete_line = b""
            self.current_command = None
        except aioimaplib.IncompleteRead as incomplete_read:
            self.current_command = incomplete_read.cmd
            self.incomplete_line = incomplete_read.data

    def _handle_responses(
        self, data: bytes, line_handler: Callable[[bytes, Any], Any], current_cmd: Any = None
    ) -> None:
        """aioimaplib's response splitter as a loop: the original recurses once per line and hits
        RecursionError on a chunk of ~1,000 lines; it also copied the rest of the chunk per line.
        Same steps, same order."""
        position, size, current = 0, len(data), current_cmd
        while True:
            if position >= size:
                if self.pending_sync_command is not None:
                    self.pending_sync_command.flush()
                if current is not None and current.wait_data():
                    raise aioimaplib.IncompleteRead(current)
                return
            if current is not None and current.wait_literal_data():
                wanted = current._expected_size - len(current._resp_literal_data)
                piece = memoryview(data)[position : position + wanted]
                position += len(piece)
                current.append_literal_data(piece)
                if current.wait_literal_data():
                    raise aioimaplib.IncompleteRead(current)
            end = data.find(b"\r\n", position)
            if end < 0:
                raise aioimaplib.IncompleteRead(current, data[position:])
            line = data[position:end]
            position = end + 2
            command = line_handler(line, current)
            literal = aioimaplib.literal_data_re.match(line)
            if literal:
                if command is None:
                    command = aioimaplib.Command("NIL", "unused")
                command.begin_literal_data(int(literal.group("size")))
                current = command
            elif command is not None and command.wait_data():
                current = command
            else:
                current = None

    def send(self, line: str, scrub: str | None = None) -> None:
        # aioimaplib formats a debug line per command (with a scrubbed copy of the password): skip it.
        self.transport.write(f"{line}\r\n".encode())

    def _continuation(self, line: bytes) -> None:
        command = self.pending_sync_command
        if command is not None and command.name == "AUTHENTICATE":
            # RFC 3501 §6.2.2: every server challenge must be answered. A rejected XOAUTH2 token gets
            # `+ <error JSON>`; aioimaplib never answers it, and the command hangs. An empty line ends
            # the exchange and the server answers NO.
            answer, self.sasl_answer = self.sasl_answer, None
            self.transport.write((answer or b"") + b"\r\n")
            return
        super()._continuation(line)

    def connection_lost(self, exc: Exception | None) -> None:
        # aioimaplib leaves pending commands waiting for ever: fail them now.
        commands = [self.pending_sync_command, *self.pending_async_commands.values()]
        for command in commands:
            if command is not None and not command._event.is_set():
                command._exception = aioimaplib.Abort("the server closed the connection")
                command.close(b"connection lost", "KO")
        super().connection_lost(exc)


class LinearFetchCommand(aioimaplib.FetchCommand):  # type: ignore[misc]
    """aioimaplib's FETCH command without its quadratic `wait_data`: that one joins every text line
    since the last `n FETCH (` again after each line to compare parentheses; this one counts them
    as the lines arrive (same answer: literals are not counted, a new FETCH line starts afresh)."""

    _resp_lines: list[bytes | bytearray]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open_parentheses = 0

    def append_to_resp(self, line: bytes | bytearray, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if isinstance(line, bytes):
            if aioimaplib.FetchCommand.FETCH_MESSAGE_DATA_RE.match(line):
                self._open_parentheses = 0
            self._open_parentheses += line.count(b"(") - line.count(b")")

    def wait_data(self) -> bool:
        return self._open_parentheses != 0


class QuietImap4(aioimaplib.IMAP4):  # type: ignore[misc]
    """aioimaplib's client over `QuietProtocol`; TLS only when an SSL context is passed."""

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = QuietProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )
