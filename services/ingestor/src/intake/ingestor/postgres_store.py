"""The `IssueStore` on PostgreSQL: a session is one pooled asyncpg connection, each operation the
`repository.py`, `batch_repository.py` or `tracker_rows.py` function of the same name on it (the same
statements, one round trip each; nothing added)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from intake.ingestor import batch_repository, repository, tracker_rows
from intake.ingestor.issue_store import BatchUnderLock, InboxPolicy, UnderLock
from intake.ingestor.parsing import ParsedMessage
from intake.shared.contracts import MessageProcessed, MessageRef


class PostgresIssueStore:
    """`IssueStore` over an asyncpg pool."""

    __slots__ = ("_pool",)

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def session(self) -> PostgresSession:
        return PostgresSession(self._pool)


class PostgresSession:
    """`IssueSession` on one connection, acquired from the pool on entry and released on exit."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy

    async def __aenter__(self) -> PostgresSession:
        self._conn = await self._pool.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._pool.release(self._conn)

    def transaction(self) -> Transaction:
        return self._conn.transaction()

    # One message

    async def stored_outcome_or_raw(
        self, ref: MessageRef, raw_sha256: str
    ) -> tuple[MessageProcessed | None, bytes | None]:
        return await repository.stored_outcome_or_raw(self._conn, ref, raw_sha256)

    async def stored_outcome(self, ref: MessageRef) -> MessageProcessed | None:
        return await repository.stored_outcome(self._conn, ref)

    async def inbox_policy(self, inbox_id: int) -> InboxPolicy | None:
        return await repository.inbox_settings(self._conn, inbox_id)

    async def issue_exists(self, number: int) -> bool:
        return await repository.issue_exists(self._conn, number)

    async def issue_title(self, number: int) -> str | None:
        return await repository.issue_title(self._conn, number)

    async def lock(self, *keys: int) -> None:
        await repository.lock(self._conn, *keys)

    async def read_under_lock(self, ref: MessageRef, candidates: Sequence[str]) -> UnderLock:
        return await repository.read_under_lock(self._conn, ref, candidates)

    async def record_outcome(
        self, processed: MessageProcessed, *, replace_skip: bool = False, thread_root: str | None = None
    ) -> MessageProcessed:
        return await repository.record_outcome(
            self._conn, processed, replace_skip=replace_skip, thread_root=thread_root
        )

    async def create_issue_with_message(
        self, ref: MessageRef, raw_sha256: str, message: ParsedMessage, inbox: InboxPolicy
    ) -> tuple[int, str]:
        return await repository.create_issue_with_message(self._conn, ref, raw_sha256, message, inbox)

    async def touch_issue(self, number: int) -> str:
        return await repository.touch_issue(self._conn, number)

    async def add_message(self, issue_number: int, ref: MessageRef, raw_sha256: str, message: ParsedMessage) -> int:
        return await repository.add_message(self._conn, issue_number, ref, raw_sha256, message)

    # A batch

    async def stored_or_raw_many(
        self, refs: Sequence[MessageRef], raw_sha256s: Sequence[str | None]
    ) -> list[tuple[bool, bytes | None]]:
        return await batch_repository.stored_or_raw_many(self._conn, refs, raw_sha256s)

    async def existing_issues(self, numbers: Sequence[int]) -> set[int]:
        return await batch_repository.existing_issues(self._conn, numbers)

    async def read_under_lock_many(
        self, refs: Sequence[MessageRef], candidates: Sequence[tuple[int, str]]
    ) -> BatchUnderLock:
        return await batch_repository.read_under_lock_many(self._conn, refs, candidates)

    async def create_issues_with_messages(
        self,
        refs: Sequence[MessageRef],
        raw_sha256s: Sequence[str],
        messages: Sequence[ParsedMessage],
        inboxes: Sequence[InboxPolicy],
    ) -> list[tuple[int, str, int]]:
        return await batch_repository.create_issues_with_messages(self._conn, refs, raw_sha256s, messages, inboxes)

    async def append_messages(
        self,
        numbers: Sequence[int],
        refs: Sequence[MessageRef],
        raw_sha256s: Sequence[str],
        messages: Sequence[ParsedMessage],
    ) -> tuple[dict[int, str], list[int]]:
        return await batch_repository.append_messages(self._conn, numbers, refs, raw_sha256s, messages)

    async def add_attachments_many(self, messages: Sequence[tuple[int, ParsedMessage]]) -> None:
        await tracker_rows.add_attachments_many(self._conn, messages)

    async def record_outcomes(
        self, outcomes: Sequence[tuple[MessageProcessed, str | None]]
    ) -> dict[tuple[int, int, int], MessageProcessed]:
        return await batch_repository.record_outcomes(self._conn, outcomes)
