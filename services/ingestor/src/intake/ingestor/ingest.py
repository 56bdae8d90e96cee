"""Processing one fetched message to its final outcome: load, parse, decide, store in one transaction.

`Ingestor` is the ingestor's one entry: `process` for one message (here), `process_batch` for a batch
of new ones (`batch_ingest.py`). Returns the `MessageProcessed` to publish for every final outcome,
`rejected` included, and the `IssueEvent` when the message is on an issue; an exception means "try
again later": PostgreSQL unreachable (`DatabaseUnavailable`), a statement failing, a conflict. Stores
through the `IssueStore` port (`issue_store.py`); knows nothing of RabbitMQ.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import asyncpg
import structlog

from intake.ingestor.batch_ingest import INLINE_PARSE_BYTES, BatchIngest, BatchOutcome
from intake.ingestor.batch_rules import lock_keys, lock_order
from intake.ingestor.decision import AppendToIssue, CreateIssue, Decision, Skip, decide
from intake.ingestor.errors import DatabaseUnavailable, MissingBlob, PermanentError, TooLarge, UnknownInbox
from intake.ingestor.inbox_policies import InboxPolicies
from intake.ingestor.issue_store import InboxPolicy, IssueSession, IssueStore
from intake.ingestor.limits import AttachmentLimits, over_limit
from intake.ingestor.matching import DEFAULT_TAG, match_subject, reply_candidates
from intake.ingestor.message_facts import facts_of
from intake.ingestor.parsing import ParsedMessage, parse_message
from intake.ingestor.results import Result, decides_again, issue_event, message_processed, reemit
from intake.ingestor.threads import thread_root
from intake.shared.contracts import MessageFetched, Outcome

log = structlog.get_logger(__name__)

# What asyncpg raises when PostgreSQL cannot be reached or drops the connection (server stopped,
# restarting, network cut, too many connections). `InterfaceError` covers "connection is closed";
# the handler stops treating these as an outage when the database answers its probe at once.
UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)


# Messages larger than `INLINE_PARSE_BYTES` are processed at most this many at a time: each holds its
# raw bytes, the parsed message and its decoded attachments (about 4x its size) until it is stored.
LARGE_AT_ONCE = 2


def _now() -> datetime:
    return datetime.now(UTC)


class Ingestor:
    """Turns `MessageFetched` into stored issues and messages, once per (inbox, UIDVALIDITY, UID)."""

    def __init__(
        self,
        store: IssueStore,
        *,
        tag_pattern: re.Pattern[str] = DEFAULT_TAG,
        clock: Callable[[], datetime] = _now,
        limits: AttachmentLimits | None = None,
        inbox_cache_seconds: float = 0.0,
    ) -> None:
        self._store = store
        self._inboxes = InboxPolicies(inbox_cache_seconds)
        self._tag_pattern = tag_pattern
        self._clock = clock
        self._limits = limits or AttachmentLimits()
        self._large = asyncio.Semaphore(LARGE_AT_ONCE)
        self._batch = BatchIngest(self._inboxes, tag_pattern=tag_pattern, clock=clock, limits=self._limits)

    async def process(self, fetched: MessageFetched, attempt: int) -> Result:
        """The outcome of `fetched`: the stored one when it was processed before, else a new one."""
        try:
            if fetched.size <= INLINE_PARSE_BYTES:
                return await self._process(fetched, attempt)
            async with self._large:
                return await self._process(fetched, attempt)
        except UNREACHABLE as error:
            raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error

    async def process_batch(self, items: Sequence[tuple[MessageFetched, int]]) -> BatchOutcome:
        """Several new messages (each with its delivery attempt) stored in one transaction; see `BatchOutcome`."""
        try:
            async with self._store.session() as session:
                return await self._batch.process(session, items)
        except UNREACHABLE as error:
            raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error

    async def _process(self, fetched: MessageFetched, attempt: int) -> Result:
        # One session (connection) for the whole message: each acquire/release from the pool costs time,
        # and every round trip to PostgreSQL is most of what a small message costs.
        async with self._store.session() as session:
            stored, raw = await session.stored_outcome_or_raw(fetched, fetched.raw_sha256)
            if stored is not None and not decides_again(fetched, stored):
                log.info("message already processed, re-emitting its outcome", outcome=stored.outcome.value)
                return await reemit(session, stored)
            if fetched.rejected is not None:
                # The fetcher refused the message (too large); the blob holds only its header. Nothing to parse.
                return await self._reject(session, fetched, fetched.rejected, attempt)
            try:
                if raw is None:
                    raise MissingBlob(f"the raw message {fetched.raw_sha256} is not in the blob store")
                inbox = await self._inboxes.get(session, fetched.inbox_id, fresh=fetched.replay)
                if inbox is None:
                    raise UnknownInbox(f"inbox {fetched.inbox_id} no longer exists")
                message = await self._parse(raw)
                too_large = over_limit(message.attachments, self._limits)
                if too_large is not None:
                    raise TooLarge(too_large)
            except PermanentError as error:
                return await self._reject(session, fetched, error.reason, attempt)
            return await self._store_message(session, fetched, message, inbox, attempt)

    @staticmethod
    async def _parse(raw: bytes) -> ParsedMessage:
        if len(raw) <= INLINE_PARSE_BYTES:
            # A thread hop costs more than parsing a small message does.
            return parse_message(raw)
        # Parsing is CPU work (a message may be 25 MiB): off the event loop, so heartbeats and
        # the other in-flight messages go on meanwhile.
        return await asyncio.to_thread(parse_message, raw)

    async def _reject(self, session: IssueSession, fetched: MessageFetched, reason: str, attempt: int) -> Result:
        rejected = message_processed(
            fetched, fetched.message_id, Outcome.REJECTED, reason, None, attempt, self._clock()
        )
        recorded = await session.record_outcome(rejected, replace_skip=fetched.replay)
        if recorded.outcome is not Outcome.REJECTED:
            return await reemit(session, recorded)
        return Result(recorded)

    async def _store_message(
        self, session: IssueSession, fetched: MessageFetched, message: ParsedMessage, inbox: InboxPolicy, attempt: int
    ) -> Result:
        subject = match_subject(message.subject, self._tag_pattern)
        root = thread_root(message)
        async with session.transaction():
            subject_issue_exists = subject.number is not None and await session.issue_exists(subject.number)
            # Locks in the one order every locker follows (`lock_order`, so no deadlock), at most one of
            # each kind: the thread's, then the
            # Message-ID's (two copies of one message under different thread roots), then the tagged
            # issue's (a tagged message ties its thread root to that issue). Issues are never deleted,
            # so `subject_issue_exists` cannot change under the lock.
            keys = lock_keys(
                fetched.inbox_id,
                root,
                fetched.raw_sha256,
                message.message_id,
                subject.number if subject_issue_exists else None,
            )
            await session.lock(*lock_order([keys]))
            # Another delivery of this message may have finished while we waited for the lock. The
            # reply candidates end with the message's own Message-ID, so the same read also says
            # whether this message is already on an issue.
            candidates = reply_candidates(message)
            found = await session.read_under_lock(fetched, candidates)
            if found.stored is not None and not decides_again(fetched, found.stored):
                return await reemit(session, found.stored)
            facts = facts_of(message, subject, subject_issue_exists, found.on_issues, found.thread_roots)
            decision = decide(facts, inbox.rules)
            outcome, number, title = await self._apply(session, decision, fetched, message, inbox)
            processed = message_processed(
                fetched, message.message_id, outcome, decision.reason, number, attempt, self._clock()
            )
            recorded = await session.record_outcome(
                processed, replace_skip=fetched.replay, thread_root=root if title is not None else None
            )
        event = issue_event(recorded, title) if title is not None and recorded.outcome.stored_on_issue else None
        return Result(recorded, event)

    async def _apply(
        self,
        session: IssueSession,
        decision: Decision,
        fetched: MessageFetched,
        message: ParsedMessage,
        inbox: InboxPolicy,
    ) -> tuple[Outcome, int | None, str | None]:
        """Carry out `decision`: the outcome, the issue number, and the issue's title when it is on one.
        (The thread root is tied to the issue with the outcome, in `record_outcome`.)"""
        if isinstance(decision, Skip):
            return decision.outcome, decision.issue_number, None
        if isinstance(decision, CreateIssue):
            number, title = await session.create_issue_with_message(fetched, fetched.raw_sha256, message, inbox)
            return Outcome.ISSUE_CREATED, number, title
        assert isinstance(decision, AppendToIssue)
        title = await session.touch_issue(decision.number)
        await session.add_message(decision.number, fetched, fetched.raw_sha256, message)
        return Outcome.ISSUE_UPDATED, decision.number, title
