"""Processing one fetched message to its final outcome: load, parse, decide, store in one transaction.

Returns the `MessageProcessed` to publish for every final outcome, `rejected` included, and the
`IssueEvent` when the message is on an issue; an exception means "try again later": PostgreSQL
unreachable (`DatabaseUnavailable`), a statement failing, a conflict. Knows nothing of RabbitMQ.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import structlog

from intake.ingestor import batch_repository, repository
from intake.ingestor.auto_generated import auto_generated
from intake.ingestor.batch_rules import LockKeys, independent, lock_order
from intake.ingestor.decision import AppendToIssue, CreateIssue, Decision, Facts, Skip, decide
from intake.ingestor.errors import DatabaseUnavailable, MissingBlob, PermanentError, TooLarge, UnknownInbox
from intake.ingestor.limits import AttachmentLimits, over_limit
from intake.ingestor.matching import DEFAULT_TAG, SubjectMatch, match_reply, match_subject, reply_candidates
from intake.ingestor.parsing import ParsedMessage, parse_message
from intake.ingestor.repository import InboxPolicy
from intake.ingestor.threads import issue_lock_key, message_lock_key, thread_lock_key, thread_root
from intake.shared.contracts import IssueEvent, IssueEventKind, MessageFetched, MessageProcessed, Outcome
from intake.shared.database import Executor, Session

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


# Messages up to this size are parsed on the event loop (and batched): about 0.5 ms for a typical 3 KB
# message, 1-2 ms for a 60 KB one with attachments; larger ones are parsed in a thread, one at a time.
INLINE_PARSE_BYTES = 128 * 1024
# Larger messages are processed at most this many at a time: each holds its raw bytes, the parsed
# message and its decoded attachments (about 4x its size) until it is stored.
LARGE_AT_ONCE = 2


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Result:
    """What to publish for one message: its outcome, and the issue event when it is on an issue."""

    processed: MessageProcessed
    event: IssueEvent | None = None


@dataclass(frozen=True)
class BatchOutcome:
    """What became of a batch, by position: committed results, the messages that share something with
    an earlier one (for the next batch), and those the one-message path takes (repeats, replays,
    rejections, messages over `INLINE_PARSE_BYTES`, redeliveries: the rare cases it already handles)."""

    results: dict[int, Result] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)
    single: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Prepared:
    """One message of a batch, parsed, before its locks."""

    position: int
    fetched: MessageFetched
    attempt: int
    message: ParsedMessage
    inbox: InboxPolicy
    subject: SubjectMatch
    root: str | None
    candidates: tuple[str, ...]


def decides_again(fetched: MessageFetched, stored: MessageProcessed) -> bool:
    """A replay (the email log's reprocess) decides again, unless the message is already on an issue:
    then its outcome is re-emitted and no second copy is made."""
    return fetched.replay and not stored.outcome.stored_on_issue


class Ingestor:
    """Turns `MessageFetched` into stored issues and messages, once per (inbox, UIDVALIDITY, UID)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        tag_pattern: re.Pattern[str] = DEFAULT_TAG,
        clock: Callable[[], datetime] = _now,
        limits: AttachmentLimits | None = None,
        inbox_cache_seconds: float = 0.0,
    ) -> None:
        self._pool = pool
        self._inbox_cache_seconds = inbox_cache_seconds
        self._inboxes: dict[int, tuple[float, InboxPolicy]] = {}
        self._tag_pattern = tag_pattern
        self._clock = clock
        self._limits = limits or AttachmentLimits()
        self._large = asyncio.Semaphore(LARGE_AT_ONCE)

    async def process(self, fetched: MessageFetched, attempt: int) -> Result:
        """The outcome of `fetched`: the stored one when it was processed before, else a new one."""
        try:
            if fetched.size <= INLINE_PARSE_BYTES:
                return await self._process(fetched, attempt)
            async with self._large:
                return await self._process(fetched, attempt)
        except UNREACHABLE as error:
            raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error

    async def _process(self, fetched: MessageFetched, attempt: int) -> Result:
        # One connection for the whole message: each acquire/release from the pool costs time, and
        # every round trip to PostgreSQL is most of what a small message costs.
        async with self._pool.acquire() as conn:
            stored, raw = await repository.stored_outcome_or_raw(conn, fetched, fetched.raw_sha256)
            if stored is not None and not decides_again(fetched, stored):
                log.info("message already processed, re-emitting its outcome", outcome=stored.outcome.value)
                return await self._reemit(conn, stored)
            if fetched.rejected is not None:
                # The fetcher refused the message (too large); the blob holds only its header. Nothing to parse.
                return await self._reject(conn, fetched, fetched.rejected, attempt)
            try:
                if raw is None:
                    raise MissingBlob(f"the raw message {fetched.raw_sha256} is not in the blob store")
                inbox = await self._inbox_settings(conn, fetched.inbox_id, fresh=fetched.replay)
                if inbox is None:
                    raise UnknownInbox(f"inbox {fetched.inbox_id} no longer exists")
                message = await self._parse(raw)
                too_large = over_limit(message.attachments, self._limits)
                if too_large is not None:
                    raise TooLarge(too_large)
            except PermanentError as error:
                return await self._reject(conn, fetched, error.reason, attempt)
            return await self._store(conn, fetched, message, inbox, attempt)

    async def process_batch(self, items: Sequence[tuple[MessageFetched, int]]) -> BatchOutcome:
        """Several new messages (each with its delivery attempt) stored in one transaction; see `BatchOutcome`."""
        try:
            return await self._process_batch(items)
        except UNREACHABLE as error:
            raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error

    async def _process_batch(self, items: Sequence[tuple[MessageFetched, int]]) -> BatchOutcome:
        outcome = BatchOutcome()
        async with self._pool.acquire() as conn:
            fetched_all = [fetched for fetched, _ in items]
            # The raw bytes of large messages are not read here: they take the one-message path.
            firsts = await batch_repository.stored_or_raw_many(
                conn, fetched_all, [f.raw_sha256 if f.size <= INLINE_PARSE_BYTES else None for f in fetched_all]
            )
            prepared: list[_Prepared] = []
            for position, ((fetched, attempt), (stored, raw)) in enumerate(zip(items, firsts, strict=True)):
                ready = await self._prepare(conn, position, fetched, attempt, stored, raw)
                if ready is None:
                    outcome.single.append(position)
                else:
                    prepared.append(ready)
            tagged = sorted({p.subject.number for p in prepared if p.subject.number is not None})
            existing = await batch_repository.existing_issues(conn, tagged) if tagged else set()
            keys = [self._lock_keys(p, existing) for p in prepared]
            kept, deferred = independent([self._names(p, k) for p, k in zip(prepared, keys, strict=True)])
            outcome.deferred.extend(prepared[index].position for index in deferred)
            if kept:
                await self._store_batch(conn, [prepared[i] for i in kept], [keys[i] for i in kept], existing, outcome)
        return outcome

    async def _prepare(
        self, conn: Executor, position: int, fetched: MessageFetched, attempt: int, stored: bool, raw: bytes | None
    ) -> _Prepared | None:
        """The parsed message when the batch can take it; None sends it down the one-message path."""
        if stored or raw is None or fetched.replay or fetched.rejected is not None or len(raw) > INLINE_PARSE_BYTES:
            return None
        inbox = await self._inbox_settings(conn, fetched.inbox_id, fresh=False)
        if inbox is None:
            return None
        try:
            message = parse_message(raw)
        except Exception:  # the one-message path parses again and rejects it or fails with a reason.
            return None
        if over_limit(message.attachments, self._limits) is not None:
            return None  # the one-message path rejects it with the reason.
        return _Prepared(
            position=position,
            fetched=fetched,
            attempt=attempt,
            message=message,
            inbox=inbox,
            subject=match_subject(message.subject, self._tag_pattern),
            root=thread_root(message),
            candidates=reply_candidates(message),
        )

    @staticmethod
    def _lock_keys(p: _Prepared, existing: set[int]) -> LockKeys:
        """The keys `_store` takes for this message (see there)."""
        inbox_id = p.fetched.inbox_id
        return LockKeys(
            thread=thread_lock_key(inbox_id, p.root, p.fetched.raw_sha256),
            message=message_lock_key(inbox_id, p.message.message_id) if p.message.message_id is not None else None,
            issue=issue_lock_key(p.subject.number) if p.subject.number in existing else None,
        )

    @staticmethod
    def _names(p: _Prepared, keys: LockKeys) -> frozenset[Hashable]:
        """What two messages of one batch must not share: a lock key, or a Message-ID one names."""
        inbox_id = p.fetched.inbox_id
        names: set[Hashable] = {("lock", key) for key in (keys.thread, keys.message, keys.issue) if key is not None}
        names.update(("id", inbox_id, candidate) for candidate in p.candidates)
        if p.root is not None:
            names.add(("id", inbox_id, p.root))
        names.add(("uid", inbox_id, p.fetched.uidvalidity, p.fetched.uid))
        return frozenset(names)

    async def _store_batch(
        self,
        conn: Session,
        batch: list[_Prepared],
        keys: list[LockKeys],
        existing: set[int],
        outcome: BatchOutcome,
    ) -> None:
        """`_store` for independent messages: the same locks, reads and decisions, multi-row statements."""
        async with conn.transaction():
            await repository.lock(conn, *lock_order(keys))
            candidates = list(dict.fromkeys((p.fetched.inbox_id, c) for p in batch for c in p.candidates))
            found = await batch_repository.read_under_lock_many(conn, [p.fetched for p in batch], candidates)
            decided: list[tuple[_Prepared, Decision]] = []
            for p in batch:
                fetched = p.fetched
                if (fetched.inbox_id, fetched.uidvalidity, fetched.uid) in found.stored:
                    outcome.single.append(p.position)  # finished elsewhere meanwhile: re-emitted there.
                    continue
                on_issues = {
                    c: found.on_issues[(fetched.inbox_id, c)]
                    for c in p.candidates
                    if (fetched.inbox_id, c) in found.on_issues
                }
                roots = {
                    c: found.thread_roots[(fetched.inbox_id, c)]
                    for c in p.candidates
                    if (fetched.inbox_id, c) in found.thread_roots
                }
                subject_issue_exists = p.subject.number is not None and p.subject.number in existing
                message = p.message
                facts = Facts(
                    subject=p.subject,
                    subject_issue_exists=subject_issue_exists,
                    reply=None if subject_issue_exists else match_reply(message, on_issues, roots),
                    stored_on_issue=on_issues.get(message.message_id) if message.message_id is not None else None,
                    message_id=message.message_id,
                    sender=message.sender.address if message.sender else None,
                    auto=auto_generated(message),
                )
                decided.append((p, decide(facts, p.inbox.rules)))
            creates = [p for p, d in decided if isinstance(d, CreateIssue)]
            created_rows = (
                await batch_repository.create_issues_with_messages(
                    conn,
                    [p.fetched for p in creates],
                    [p.fetched.raw_sha256 for p in creates],
                    [p.message for p in creates],
                    [p.inbox for p in creates],
                )
                if creates
                else []
            )
            created = iter(created_rows)
            appends = [(p, d) for p, d in decided if isinstance(d, AppendToIssue)]
            titles, appended = (
                await batch_repository.append_messages(
                    conn,
                    [d.number for _, d in appends],
                    [p.fetched for p, _ in appends],
                    [p.fetched.raw_sha256 for p, _ in appends],
                    [p.message for p, _ in appends],
                )
                if appends
                else ({}, [])
            )
            # Every stored message's attachments: blobs in one statement, rows in another.
            row_ids = [(p, row_id) for p, (_, _, row_id) in zip(creates, created_rows, strict=True)]
            row_ids += [(p, row_id) for (p, _), row_id in zip(appends, appended, strict=True)]
            await repository.add_attachments_many(conn, [(row_id, p.message) for p, row_id in row_ids])
            planned: list[tuple[_Prepared, MessageProcessed, str | None]] = []
            for p, decision in decided:
                number: int | None
                title: str | None
                if isinstance(decision, CreateIssue):
                    number, title, _ = next(created)
                    kind = Outcome.ISSUE_CREATED
                elif isinstance(decision, AppendToIssue):
                    number, title, kind = decision.number, titles[decision.number], Outcome.ISSUE_UPDATED
                else:
                    assert isinstance(decision, Skip)
                    number, title, kind = decision.issue_number, None, decision.outcome
                processed = self._outcome(p.fetched, p.message.message_id, kind, decision.reason, number, p.attempt)
                planned.append((p, processed, title))
            recorded = await batch_repository.record_outcomes(
                conn, [(processed, p.root if title is not None else None) for p, processed, title in planned]
            )
            for p, processed, title in planned:
                mine = recorded.get((processed.inbox_id, processed.uidvalidity, processed.uid))
                if mine is None:  # recorded by someone else first (a rejection): that one counts.
                    stored = await repository.stored_outcome(conn, processed)
                    assert stored is not None
                    outcome.results[p.position] = await self._reemit(conn, stored)
                    continue
                event = self._event(mine, title) if title is not None and mine.outcome.stored_on_issue else None
                outcome.results[p.position] = Result(mine, event)

    @staticmethod
    async def _parse(raw: bytes) -> ParsedMessage:
        if len(raw) <= INLINE_PARSE_BYTES:
            # A thread hop costs more than parsing a small message does.
            return parse_message(raw)
        # Parsing is CPU work (a message may be 25 MiB): off the event loop, so heartbeats and
        # the other in-flight messages go on meanwhile.
        return await asyncio.to_thread(parse_message, raw)

    async def _inbox_settings(self, conn: Executor, inbox_id: int, *, fresh: bool) -> InboxPolicy | None:
        """The inbox's settings, read at most every `inbox_cache_seconds` (a replay reads them afresh:
        it is asked for after someone changed them)."""
        now = time.monotonic()
        cached = self._inboxes.get(inbox_id)
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        inbox = await repository.inbox_settings(conn, inbox_id)
        if inbox is not None and self._inbox_cache_seconds > 0:
            self._inboxes[inbox_id] = (now + self._inbox_cache_seconds, inbox)
        return inbox

    async def _reject(self, conn: Executor, fetched: MessageFetched, reason: str, attempt: int) -> Result:
        rejected = self._outcome(fetched, fetched.message_id, Outcome.REJECTED, reason, None, attempt)
        recorded = await repository.record_outcome(conn, rejected, replace_skip=fetched.replay)
        if recorded.outcome is not Outcome.REJECTED:
            return await self._reemit(conn, recorded)
        return Result(recorded)

    async def _reemit(self, conn: Executor, stored: MessageProcessed) -> Result:
        """The stored outcome again, with its issue event when it is on an issue (at least once)."""
        if not stored.outcome.stored_on_issue or stored.issue_number is None:
            return Result(stored)
        title = await repository.issue_title(conn, stored.issue_number)
        return Result(stored, None if title is None else self._event(stored, title))

    async def _store(
        self, conn: Session, fetched: MessageFetched, message: ParsedMessage, inbox: InboxPolicy, attempt: int
    ) -> Result:
        subject = match_subject(message.subject, self._tag_pattern)
        root = thread_root(message)
        async with conn.transaction():
            subject_issue_exists = subject.number is not None and await repository.issue_exists(conn, subject.number)
            # Locks in a fixed order, at most one of each kind (so no deadlock): the thread's, then the
            # Message-ID's (two copies of one message under different thread roots), then the tagged
            # issue's (a tagged message ties its thread root to that issue). Issues are never deleted,
            # so `subject_issue_exists` cannot change under the lock.
            keys = [thread_lock_key(fetched.inbox_id, root, fetched.raw_sha256)]
            if message.message_id is not None:
                keys.append(message_lock_key(fetched.inbox_id, message.message_id))
            if subject.number is not None and subject_issue_exists:
                keys.append(issue_lock_key(subject.number))
            await repository.lock(conn, *keys)
            # Another delivery of this message may have finished while we waited for the lock. The
            # reply candidates end with the message's own Message-ID, so the same read also says
            # whether this message is already on an issue.
            candidates = reply_candidates(message)
            found = await repository.read_under_lock(conn, fetched, candidates)
            if found.stored is not None and not decides_again(fetched, found.stored):
                return await self._reemit(conn, found.stored)
            reply = None if subject_issue_exists else match_reply(message, found.on_issues, found.thread_roots)
            facts = Facts(
                subject=subject,
                subject_issue_exists=subject_issue_exists,
                reply=reply,
                stored_on_issue=found.on_issues.get(message.message_id) if message.message_id is not None else None,
                message_id=message.message_id,
                sender=message.sender.address if message.sender else None,
                auto=auto_generated(message),
            )
            decision = decide(facts, inbox.rules)
            outcome, number, title = await self._apply(conn, decision, fetched, message, inbox)
            processed = self._outcome(fetched, message.message_id, outcome, decision.reason, number, attempt)
            recorded = await repository.record_outcome(
                conn, processed, replace_skip=fetched.replay, thread_root=root if title is not None else None
            )
        event = self._event(recorded, title) if title is not None and recorded.outcome.stored_on_issue else None
        return Result(recorded, event)

    async def _apply(
        self,
        conn: Session,
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
            number, title = await repository.create_issue_with_message(
                conn, fetched, fetched.raw_sha256, message, inbox
            )
            return Outcome.ISSUE_CREATED, number, title
        assert isinstance(decision, AppendToIssue)
        title = await repository.touch_issue(conn, decision.number)
        await repository.add_message(conn, decision.number, fetched, fetched.raw_sha256, message)
        return Outcome.ISSUE_UPDATED, decision.number, title

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

    @staticmethod
    def _event(processed: MessageProcessed, title: str) -> IssueEvent:
        assert processed.issue_number is not None
        return IssueEvent(
            kind=IssueEventKind.CREATED if processed.outcome is Outcome.ISSUE_CREATED else IssueEventKind.UPDATED,
            issue_number=processed.issue_number,
            inbox_id=processed.inbox_id,
            message_id=processed.message_id,
            title=title,
            # The commit's time: the same on a re-emission, so a follower can tell a repeat.
            occurred_at=processed.processed_at,
        )
