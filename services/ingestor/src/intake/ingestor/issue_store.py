"""The port the ingestor stores issues through (`IssueStore`), and the values its sessions read.

`Ingestor` and `BatchIngest` depend on this, not on asyncpg: `postgres_store.py` is the one real
adapter (`repository.py` and `batch_repository.py` on a pooled connection), and the unit tests use a
hand-written fake (`tests/fakes/issue_store.py`). Pure: no I/O library here.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from intake.ingestor.decision import InboxRules
from intake.ingestor.parsing import ParsedMessage
from intake.shared.contracts import MessageProcessed, MessageRef


@dataclass(frozen=True)
class InboxPolicy:
    """What the ingestor needs of an inbox: the rules that decide, and the defaults for new issues."""

    rules: InboxRules
    issue_type_id: int | None
    default_language: str | None
    assigned_user_id: int | None
    assigned_organisation_id: int | None


@dataclass(frozen=True)
class UnderLock:
    """What the ingestor reads once it holds a message's locks."""

    stored: MessageProcessed | None
    # Of the message's reply candidates: those stored on an issue of this inbox, and those that are
    # the root of a thread tied to an issue, each with the issue's number.
    on_issues: dict[str, int]
    thread_roots: dict[str, int]


@dataclass(frozen=True)
class BatchUnderLock:
    """What a batch reads once it holds its locks: which messages got an outcome meanwhile, and which
    of the batch's reply candidates (inbox, Message-ID) are on an issue or root a thread tied to one."""

    stored: set[tuple[int, int, int]]
    on_issues: dict[tuple[int, str], int]
    thread_roots: dict[tuple[int, str], int]


class IssueSession(Protocol):
    """One session of the store (one connection): its reads and writes, all or nothing within `transaction`.

    Locks are held until the transaction ends. Unreachable storage raises `OSError` or asyncpg's
    connection errors (what `ingest.UNREACHABLE` names)."""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything inside is committed together, or rolled back when it raises."""
        ...

    # One message (`ingest.py`)

    async def stored_outcome_or_raw(
        self, ref: MessageRef, raw_sha256: str
    ) -> tuple[MessageProcessed | None, bytes | None]:
        """The outcome already recorded for (inbox, UIDVALIDITY, UID), and the raw bytes (None if missing)."""
        ...

    async def stored_outcome(self, ref: MessageRef) -> MessageProcessed | None:
        """The outcome already recorded for (inbox, UIDVALIDITY, UID), or None."""
        ...

    async def inbox_policy(self, inbox_id: int) -> InboxPolicy | None:
        """The inbox's settings, or None when the inbox no longer exists."""
        ...

    async def issue_exists(self, number: int) -> bool: ...

    async def issue_title(self, number: int) -> str | None: ...

    async def lock(self, *keys: int) -> None:
        """Hold the locks `keys`, taken in the order given, until the transaction ends."""
        ...

    async def read_under_lock(self, ref: MessageRef, candidates: Sequence[str]) -> UnderLock:
        """The stored outcome, and which of `candidates` (Message-IDs) are on an issue or root a thread."""
        ...

    async def record_outcome(
        self, processed: MessageProcessed, *, replace_skip: bool = False, thread_root: str | None = None
    ) -> MessageProcessed:
        """Record `processed` unless an outcome is already there; the one recorded. `replace_skip` (a replay)
        replaces a stored outcome that did not put the message on an issue; `thread_root` is tied to
        `processed.issue_number`, unless the thread is tied already."""
        ...

    async def create_issue_with_message(
        self, ref: MessageRef, raw_sha256: str, message: ParsedMessage, inbox: InboxPolicy
    ) -> tuple[int, str]:
        """A new issue with the inbox's defaults, holding the message and its attachments; number, title."""
        ...

    async def touch_issue(self, number: int) -> str:
        """Mark the issue updated; its title."""
        ...

    async def add_message(self, issue_number: int, ref: MessageRef, raw_sha256: str, message: ParsedMessage) -> int:
        """Store the message on the issue with its attachments; its row id."""
        ...

    # A batch (`batch_ingest.py`): one statement each for all its messages

    async def stored_or_raw_many(
        self, refs: Sequence[MessageRef], raw_sha256s: Sequence[str | None]
    ) -> list[tuple[bool, bytes | None]]:
        """For each message: is an outcome recorded, and its raw bytes (None once recorded or keyed None)."""
        ...

    async def existing_issues(self, numbers: Sequence[int]) -> set[int]: ...

    async def read_under_lock_many(
        self, refs: Sequence[MessageRef], candidates: Sequence[tuple[int, str]]
    ) -> BatchUnderLock: ...

    async def create_issues_with_messages(
        self,
        refs: Sequence[MessageRef],
        raw_sha256s: Sequence[str],
        messages: Sequence[ParsedMessage],
        inboxes: Sequence[InboxPolicy],
    ) -> list[tuple[int, str, int]]:
        """`create_issue_with_message` without the attachments, numbered in the order given; each new
        issue's number and title and its message's row id."""
        ...

    async def append_messages(
        self,
        numbers: Sequence[int],
        refs: Sequence[MessageRef],
        raw_sha256s: Sequence[str],
        messages: Sequence[ParsedMessage],
    ) -> tuple[dict[int, str], list[int]]:
        """`touch_issue` + `add_message` without the attachments; the titles by issue, the row ids in order."""
        ...

    async def add_attachments_many(self, messages: Sequence[tuple[int, ParsedMessage]]) -> None:
        """Store the attachments of each (message row id, message)."""
        ...

    async def record_outcomes(
        self, outcomes: Sequence[tuple[MessageProcessed, str | None]]
    ) -> dict[tuple[int, int, int], MessageProcessed]:
        """`record_outcome` (keeping a stored one) for each (outcome, thread root or None); those it
        recorded, by (inbox, UIDVALIDITY, UID)."""
        ...


class IssueStore(Protocol):
    """Where issues, messages and outcomes are stored: sessions, one per message or per batch."""

    def session(self) -> AbstractAsyncContextManager[IssueSession]:
        """A session; entering it may raise the unreachable errors `IssueSession` names."""
        ...
