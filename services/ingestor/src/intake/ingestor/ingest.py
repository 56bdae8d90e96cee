"""Processing one fetched message to its final outcome: load, parse, decide, store in one transaction.

Returns the `MessageProcessed` to publish for every final outcome, `rejected` included; an exception
means "try again later" (PostgreSQL unreachable, a conflict). Knows nothing of RabbitMQ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import structlog

from intake.ingestor import repository
from intake.ingestor.decision import AppendToIssue, CreateIssue, Decision, Facts, Skip, decide
from intake.ingestor.errors import MissingBlob, PermanentError, TooLarge, UnknownInbox
from intake.ingestor.limits import AttachmentLimits, over_limit
from intake.ingestor.matching import match_subject
from intake.ingestor.parsing import ParsedMessage, parse_message
from intake.ingestor.repository import InboxSettings
from intake.ingestor.threads import issue_lock_key, thread_lock_key, thread_root
from intake.shared.blobs import get_blob
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from intake.shared.database import Session

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class Ingestor:
    """Turns `MessageFetched` into stored issues and messages, once per (inbox, UIDVALIDITY, UID)."""

    def __init__(
        self, pool: asyncpg.Pool, clock: Callable[[], datetime] = _now, limits: AttachmentLimits | None = None
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._limits = limits or AttachmentLimits()

    async def process(self, fetched: MessageFetched, attempt: int) -> MessageProcessed:
        """The outcome of `fetched`: the stored one when it was processed before, else a new one."""
        stored = await repository.stored_outcome(self._pool, fetched)
        if stored is not None:
            log.info("message already processed, re-emitting its outcome", outcome=stored.outcome.value)
            return stored
        try:
            raw = await get_blob(self._pool, fetched.raw_sha256)
            if raw is None:
                raise MissingBlob(f"the raw message {fetched.raw_sha256} is not in the blob store")
            inbox = await repository.inbox_settings(self._pool, fetched.inbox_id)
            if inbox is None:
                raise UnknownInbox(f"inbox {fetched.inbox_id} no longer exists")
            # Parsing is CPU work (a message may be 25 MiB): off the event loop, so heartbeats and
            # the other in-flight messages go on meanwhile.
            message = await asyncio.to_thread(parse_message, raw)
            too_large = over_limit(message.attachments, self._limits)
            if too_large is not None:
                raise TooLarge(too_large)
        except PermanentError as error:
            return await self._reject(fetched, error.reason, attempt)
        return await self._store(fetched, message, inbox, attempt)

    async def _reject(self, fetched: MessageFetched, reason: str, attempt: int) -> MessageProcessed:
        rejected = self._outcome(fetched, fetched.message_id, Outcome.REJECTED, reason, None, attempt)
        return await repository.record_outcome(self._pool, rejected)

    async def _store(
        self, fetched: MessageFetched, message: ParsedMessage, inbox: InboxSettings, attempt: int
    ) -> MessageProcessed:
        match = match_subject(message.subject)
        root = thread_root(message)
        async with self._pool.acquire() as conn, conn.transaction():
            candidate_exists = match.number is not None and await repository.issue_exists(conn, match.number)
            # Always the thread's lock, and the tagged issue's lock after it, in that fixed order (no
            # deadlock): a tagged message also ties its thread root to the issue, so an untagged reply
            # of the same thread must wait for it. Issues are never deleted, so `candidate_exists`
            # cannot change under the lock.
            await repository.lock_thread(conn, thread_lock_key(fetched.inbox_id, root, fetched.raw_sha256))
            if match.number is not None and candidate_exists:
                await repository.lock_thread(conn, issue_lock_key(match.number))
            # Another delivery of this message may have finished while we waited for the lock.
            stored = await repository.stored_outcome(conn, fetched)
            if stored is not None:
                return stored
            facts = Facts(
                match=match,
                candidate_exists=candidate_exists,
                thread_issue=(
                    await repository.thread_issue(conn, fetched.inbox_id, root)
                    if root is not None and not candidate_exists
                    else None
                ),
                stored_on_issue=(
                    await repository.issue_holding_message(conn, fetched.inbox_id, message.message_id)
                    if message.message_id is not None
                    else None
                ),
                message_id=message.message_id,
                thread_root=root,
            )
            decision = decide(facts, inbox.rules)
            outcome, number = await self._apply(conn, decision, fetched, message, inbox, root)
            processed = self._outcome(fetched, message.message_id, outcome, decision.reason, number, attempt)
            return await repository.record_outcome(conn, processed)

    async def _apply(
        self,
        conn: Session,
        decision: Decision,
        fetched: MessageFetched,
        message: ParsedMessage,
        inbox: InboxSettings,
        root: str | None,
    ) -> tuple[Outcome, int | None]:
        if isinstance(decision, Skip):
            return decision.outcome, decision.issue_number
        if isinstance(decision, CreateIssue):
            number = await repository.create_issue(conn, fetched.inbox_id, message, inbox)
            outcome = Outcome.ISSUE_CREATED
        else:
            assert isinstance(decision, AppendToIssue)
            number = decision.number
            await repository.touch_issue(conn, number)
            outcome = Outcome.ISSUE_UPDATED
        await repository.add_message(conn, number, fetched, fetched.raw_sha256, message)
        if root is not None:
            await repository.remember_thread(conn, fetched.inbox_id, root, number)
        return outcome, number

    def _outcome(
        self,
        fetched: MessageFetched,
        message_id: str | None,
        outcome: Outcome,
        reason: str,
        issue_number: int | None,
        attempt: int,
    ) -> MessageProcessed:
        return MessageProcessed(
            inbox_id=fetched.inbox_id,
            uidvalidity=fetched.uidvalidity,
            uid=fetched.uid,
            raw_sha256=fetched.raw_sha256,
            message_id=message_id,
            outcome=outcome,
            reason=reason,
            issue_number=issue_number,
            attempts=attempt,
            processed_at=self._clock(),
        )
