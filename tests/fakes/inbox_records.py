"""A fake `InboxRecords` (intake.fetcher.inbox_records): one inbox's fetcher rows in memory.

Keeps what PostgreSQL would: the checkpoint, each message's row (its blob's bytes, its state `stored`,
`published` or `processed`, the mailbox action owed and its attempts), the failed reads. A failed
action follows `outcome_rules.after_failed_action`, the rule the SQL applies. `store_error`, while set,
makes `store_messages` raise it (the database went away mid-cycle).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.headers import HeaderSummary
from intake.fetcher.outcome_records import PendingAction
from intake.fetcher.outcome_rules import after_failed_action
from intake.fetcher.repository import FetchAttempts, FetchedMessage, NewMessage
from intake.shared.inbox_vocabulary import ProcessedAction


@dataclass
class MessageRow:
    """A `fetcher.messages` row with its blob."""

    fetched: FetchedMessage
    raw: bytes
    state: str = "stored"
    action: ProcessedAction | None = None
    action_state: str | None = None  # None (no action owed), pending, done, abandoned
    action_attempts: int = 0
    action_error: str | None = None


@dataclass
class FakeInboxRecords:
    inbox_id: int = 1
    checkpoint: Checkpoint | None = None
    rows: dict[int, MessageRow] = field(default_factory=dict)  # by row id, in insertion order
    attempts: dict[tuple[int, int], FetchAttempts] = field(default_factory=dict)  # by (uidvalidity, uid)
    store_error: Exception | None = None
    _next_id: int = field(default=1, init=False, repr=False)

    # -- what a test reads or sets up ------------------------------------------------------------------
    def row(self, uid: int, uidvalidity: int | None = None) -> MessageRow:
        """The row of `uid` (in `uidvalidity`, else in any)."""
        (found,) = [
            row
            for row in self.rows.values()
            if row.fetched.uid == uid and uidvalidity in (None, row.fetched.uidvalidity)
        ]
        return found

    def uids(self, state: str | None = None) -> list[int]:
        """The UIDs with a row (in `state`, else in any), in UID order."""
        return sorted(row.fetched.uid for row in self.rows.values() if state in (None, row.state))

    def owe(self, uidvalidity: int, uid: int, action: ProcessedAction, message_id: str | None = None) -> int:
        """A processed message whose mailbox action is pending (what an outcome leaves); returns its row id."""
        (fetched,) = self._insert(uidvalidity, [NewMessage(uid, b"", _summary(message_id))])
        row = self.rows[fetched.id]
        row.state, row.action, row.action_state = "processed", action, "pending"
        return fetched.id

    def _insert(self, uidvalidity: int, messages: Sequence[NewMessage]) -> list[FetchedMessage]:
        taken = {(row.fetched.uidvalidity, row.fetched.uid) for row in self.rows.values()}
        new: list[FetchedMessage] = []
        for message in messages:
            if (uidvalidity, message.uid) in taken:
                continue  # ON CONFLICT DO NOTHING
            fetched = FetchedMessage(
                id=self._next_id,
                inbox_id=self.inbox_id,
                uidvalidity=uidvalidity,
                uid=message.uid,
                raw_sha256=hashlib.sha256(message.raw).hexdigest(),
                size=len(message.raw) if message.size is None else message.size,
                message_id=message.summary.message_id,
                sender=message.summary.sender,
                subject=message.summary.subject,
                fetched_at=datetime.now(UTC),
                rejected=message.rejected,
                correlation_id=uuid.uuid4().hex,
                internal_date=message.internal_date,
            )
            self._next_id += 1
            self.rows[fetched.id] = MessageRow(fetched, bytes(message.raw))
            new.append(fetched)
        return sorted(new, key=lambda fetched: fetched.uid)

    # -- InboxRecords -----------------------------------------------------------------------------------
    async def load_checkpoint(self) -> Checkpoint | None:
        return self.checkpoint

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint

    async def known_uids(self, uidvalidity: int, uids: Sequence[int]) -> set[int]:
        return {row.fetched.uid for row in self.rows.values() if row.fetched.uidvalidity == uidvalidity} & set(uids)

    async def fetch_attempts(self, uidvalidity: int, uids: Sequence[int]) -> dict[int, FetchAttempts]:
        return {uid: self.attempts[(uidvalidity, uid)] for uid in uids if (uidvalidity, uid) in self.attempts}

    async def count_fetch_attempt(self, uidvalidity: int, uid: int, error: str) -> int:
        before = self.attempts.get((uidvalidity, uid))
        attempts = 1 if before is None else before.attempts + 1
        self.attempts[(uidvalidity, uid)] = FetchAttempts(attempts, error)
        return attempts

    async def store_messages(
        self, uidvalidity: int, messages: Sequence[NewMessage], checkpoint: Checkpoint
    ) -> list[FetchedMessage]:
        if self.store_error is not None:
            raise self.store_error
        new = self._insert(uidvalidity, messages)
        self.checkpoint = checkpoint
        for message in messages:
            self.attempts.pop((uidvalidity, message.uid), None)
        return new

    async def unpublished(self) -> list[FetchedMessage]:
        return [row.fetched for row in self.rows.values() if row.state == "stored"]

    async def mark_published(self, message_ids: Sequence[int]) -> None:
        for message_id in message_ids:
            row = self.rows[message_id]
            if row.state == "stored":  # never moved back from `processed`
                row.state = "published"

    async def pending_actions(self, limit: int) -> list[PendingAction]:
        return [
            PendingAction(
                row.fetched.id,
                row.fetched.uidvalidity,
                row.fetched.uid,
                row.action,
                row.action_attempts,
                row.fetched.message_id,
                row.fetched.correlation_id,
            )
            for row in self.rows.values()
            if row.action_state == "pending" and row.action is not None
        ][:limit]

    async def action_done(self, message_ids: Sequence[int]) -> None:
        for message_id in message_ids:
            row = self.rows[message_id]
            row.action_state, row.action_attempts, row.action_error = "done", row.action_attempts + 1, None

    async def action_failed(self, message_id: int, error: str) -> None:
        row = self.rows[message_id]
        row.action_attempts, row.action_state = after_failed_action(row.action_attempts, row.action_state)
        row.action_error = error

    async def action_abandoned(self, message_id: int, reason: str) -> None:
        row = self.rows[message_id]
        row.action_state, row.action_error = "abandoned", reason


def _summary(message_id: str | None) -> HeaderSummary:
    return HeaderSummary(message_id=message_id, sender=None, subject=None)
