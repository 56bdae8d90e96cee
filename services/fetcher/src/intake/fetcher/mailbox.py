"""The port the poller's fetch and action steps read and change the mailbox through (`Mailbox`).

Exactly the `ImapClient` calls those steps make, so `ImapClient` satisfies it as it is (mypy checks
that where the poller hands its client to the steps) and unit tests use a hand-written in-memory one
(`tests/fakes/mailbox.py`). Connecting, signing in, SELECT, IDLE and LOGOUT stay with the session
(poller.py), on `ImapClient` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from intake.shared.imap_responses import Listed


class Mailbox(Protocol):
    """One selected folder, by UID; every call raises only `intake.shared.imap_errors` types."""

    async def uid_search(self, *criteria: str) -> list[int]:
        """The UIDs matching `criteria` (UID SEARCH, e.g. `("UID", "42:*")`)."""
        ...

    async def uid_exists(self, uid: int) -> bool:
        """Whether message `uid` is still in the folder."""
        ...

    async def fetch_listing(self, uids: Iterable[int]) -> dict[int, Listed]:
        """RFC822.SIZE and INTERNALDATE of each of `uids` that still exists."""
        ...

    async def fetch_bodies(self, uids: Iterable[int], size_hint: int = 0) -> dict[int, bytes | bytearray]:
        """The raw bytes of each of `uids` the server sent, with one UID FETCH (a UID that is gone is missing)."""
        ...

    async def fetch_body(self, uid: int, size_hint: int = 0) -> bytes | bytearray | None:
        """The raw bytes of `uid`; None when the answer held none."""
        ...

    async def fetch_header(self, uid: int) -> bytes | bytearray | None:
        """Only the header block of `uid`; None when the answer held none."""
        ...

    async def add_flags(self, uid: int | Iterable[int], *flags: str) -> None:
        """Add `flags` to message `uid`, or to each of several UIDs with one command."""
        ...

    @property
    def supports_uid_expunge(self) -> bool:
        """Whether the server has UID EXPUNGE (UIDPLUS, RFC 4315)."""
        ...

    async def uid_expunge(self, uid: int) -> None:
        """Remove only message `uid` (flagged \\Deleted), never other \\Deleted messages."""
        ...
