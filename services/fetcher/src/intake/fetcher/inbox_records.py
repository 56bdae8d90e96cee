"""The port the poller's steps keep one inbox's records through (`InboxRecords`): its checkpoint, the
messages fetched (stored, then published), failed reads, and the mailbox actions owed.

`PostgresInboxRecords` is the one real implementation: each method is one call of repository.py or
outcome_records.py on the pool (the SQL stays there; no round trip is added). Unit tests use an
in-memory one (`tests/fakes/inbox_records.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from intake.fetcher import outcome_records, repository
from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.outcome_records import PendingAction
from intake.fetcher.repository import FetchAttempts, FetchedMessage, NewMessage


class InboxRecords(Protocol):
    """One inbox's rows, as the fetch, commit, publish and action steps read and write them."""

    async def load_checkpoint(self) -> Checkpoint | None: ...

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    async def known_uids(self, uidvalidity: int, uids: Sequence[int]) -> set[int]:
        """Which of `uids` already have a row (in flight or done: never stored or published again)."""
        ...

    async def fetch_attempts(self, uidvalidity: int, uids: Sequence[int]) -> dict[int, FetchAttempts]:
        """Failed reads so far of each of `uids` that has any."""
        ...

    async def count_fetch_attempt(self, uidvalidity: int, uid: int, error: str) -> int:
        """Count one more failed read of a message that still exists; return the attempts so far."""
        ...

    async def store_messages(
        self, uidvalidity: int, messages: Sequence[NewMessage], checkpoint: Checkpoint
    ) -> list[FetchedMessage]:
        """Store `messages` (`stored`, their failed reads forgotten) and `checkpoint` at once; return the
        rows that are new (a UID that already had one is left as it was), in UID order."""
        ...

    async def unpublished(self) -> list[FetchedMessage]:
        """Rows stored but not confirmed on the bus, oldest first."""
        ...

    async def mark_published(self, message_ids: Sequence[int]) -> None:
        """Mark rows confirmed on the bus (a row whose outcome arrived already stays as it is)."""
        ...

    async def pending_actions(self, limit: int) -> list[PendingAction]:
        """The mailbox actions owed, oldest first, at most `limit`."""
        ...

    async def action_done(self, message_ids: Sequence[int]) -> None: ...

    async def action_failed(self, message_id: int, error: str) -> None:
        """Count a failed attempt; after `outcome_rules.MAX_ACTION_ATTEMPTS` the action is abandoned."""
        ...

    async def action_abandoned(self, message_id: int, reason: str) -> None: ...


@dataclass(frozen=True)
class PostgresInboxRecords:
    """`InboxRecords` of inbox `inbox_id` in PostgreSQL (schema `fetcher`), on `pool`."""

    pool: asyncpg.Pool
    inbox_id: int

    async def load_checkpoint(self) -> Checkpoint | None:
        return await repository.load_checkpoint(self.pool, self.inbox_id)

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        await repository.save_checkpoint(self.pool, self.inbox_id, checkpoint)

    async def known_uids(self, uidvalidity: int, uids: Sequence[int]) -> set[int]:
        return await repository.known_uids(self.pool, self.inbox_id, uidvalidity, uids)

    async def fetch_attempts(self, uidvalidity: int, uids: Sequence[int]) -> dict[int, FetchAttempts]:
        return await repository.fetch_attempts(self.pool, self.inbox_id, uidvalidity, uids)

    async def count_fetch_attempt(self, uidvalidity: int, uid: int, error: str) -> int:
        return await repository.count_fetch_attempt(self.pool, self.inbox_id, uidvalidity, uid, error)

    async def store_messages(
        self, uidvalidity: int, messages: Sequence[NewMessage], checkpoint: Checkpoint
    ) -> list[FetchedMessage]:
        return await repository.store_messages(self.pool, self.inbox_id, uidvalidity, messages, checkpoint)

    async def unpublished(self) -> list[FetchedMessage]:
        return await repository.unpublished(self.pool, self.inbox_id)

    async def mark_published(self, message_ids: Sequence[int]) -> None:
        await repository.mark_published(self.pool, message_ids)

    async def pending_actions(self, limit: int) -> list[PendingAction]:
        return await outcome_records.pending_actions(self.pool, self.inbox_id, limit)

    async def action_done(self, message_ids: Sequence[int]) -> None:
        await outcome_records.action_done(self.pool, message_ids)

    async def action_failed(self, message_id: int, error: str) -> None:
        await outcome_records.action_failed(self.pool, message_id, error)

    async def action_abandoned(self, message_id: int, reason: str) -> None:
        await outcome_records.action_abandoned(self.pool, message_id, reason)
