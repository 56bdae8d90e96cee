"""Processing a batch of new messages in one transaction: parse each, lock, decide, store with multi-row
statements (`batch_repository`), all or nothing.

Takes only what it can store together (`batch_rules.independent`) and leaves the rest: the messages
that share something with an earlier one wait for the next batch, and the rare cases (repeats,
replays, rejections, large messages, finished elsewhere meanwhile) go down the one-message path
(`ingest.py`). Decides on the same facts (`message_facts`) under the same locks (`batch_rules`) as it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from intake.ingestor.batch_rules import LockKeys, independent, lock_keys, lock_order
from intake.ingestor.decision import AppendToIssue, CreateIssue, Decision, Skip, decide
from intake.ingestor.inbox_policies import InboxPolicies
from intake.ingestor.issue_store import InboxPolicy, IssueSession
from intake.ingestor.limits import AttachmentLimits, over_limit
from intake.ingestor.matching import SubjectMatch, match_subject, reply_candidates
from intake.ingestor.message_facts import facts_of
from intake.ingestor.parsing import ParsedMessage, parse_message
from intake.ingestor.results import Result, issue_event, message_processed, reemit
from intake.ingestor.threads import thread_root
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome

# Messages up to this size are parsed on the event loop (and batched): about 0.5 ms for a typical 3 KB
# message, 1-2 ms for a 60 KB one with attachments; larger ones are parsed in a thread, one at a time.
INLINE_PARSE_BYTES = 128 * 1024


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


class BatchIngest:
    """The batch path of `Ingestor.process_batch`, in the store session it is given."""

    def __init__(
        self,
        inboxes: InboxPolicies,
        *,
        tag_pattern: re.Pattern[str],
        clock: Callable[[], datetime],
        limits: AttachmentLimits,
    ) -> None:
        self._inboxes = inboxes
        self._tag_pattern = tag_pattern
        self._clock = clock
        self._limits = limits

    async def process(self, session: IssueSession, items: Sequence[tuple[MessageFetched, int]]) -> BatchOutcome:
        """Several new messages (each with its delivery attempt) stored in one transaction; see `BatchOutcome`."""
        outcome = BatchOutcome()
        fetched_all = [fetched for fetched, _ in items]
        # The raw bytes of large messages are not read here: they take the one-message path.
        firsts = await session.stored_or_raw_many(
            fetched_all, [f.raw_sha256 if f.size <= INLINE_PARSE_BYTES else None for f in fetched_all]
        )
        prepared: list[_Prepared] = []
        for position, ((fetched, attempt), (stored, raw)) in enumerate(zip(items, firsts, strict=True)):
            ready = await self._prepare(session, position, fetched, attempt, stored, raw)
            if ready is None:
                outcome.single.append(position)
            else:
                prepared.append(ready)
        tagged = sorted({p.subject.number for p in prepared if p.subject.number is not None})
        existing = await session.existing_issues(tagged) if tagged else set()
        keys = [self._lock_keys(p, existing) for p in prepared]
        kept, deferred = independent([self._names(p, k) for p, k in zip(prepared, keys, strict=True)])
        outcome.deferred.extend(prepared[index].position for index in deferred)
        if kept:
            await self._store_batch(session, [prepared[i] for i in kept], [keys[i] for i in kept], existing, outcome)
        return outcome

    async def _prepare(
        self,
        session: IssueSession,
        position: int,
        fetched: MessageFetched,
        attempt: int,
        stored: bool,
        raw: bytes | None,
    ) -> _Prepared | None:
        """The parsed message when the batch can take it; None sends it down the one-message path."""
        if stored or raw is None or fetched.replay or fetched.rejected is not None or len(raw) > INLINE_PARSE_BYTES:
            return None
        inbox = await self._inboxes.get(session, fetched.inbox_id, fresh=False)
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
        """The keys the one-message path takes for this message."""
        number = p.subject.number
        return lock_keys(
            p.fetched.inbox_id,
            p.root,
            p.fetched.raw_sha256,
            p.message.message_id,
            number if number in existing else None,
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
        session: IssueSession,
        batch: list[_Prepared],
        keys: list[LockKeys],
        existing: set[int],
        outcome: BatchOutcome,
    ) -> None:
        """`_store` for independent messages: the same locks, reads and decisions, multi-row statements."""
        async with session.transaction():
            await session.lock(*lock_order(keys))
            candidates = list(dict.fromkeys((p.fetched.inbox_id, c) for p in batch for c in p.candidates))
            found = await session.read_under_lock_many([p.fetched for p in batch], candidates)
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
                facts = facts_of(p.message, p.subject, subject_issue_exists, on_issues, roots)
                decided.append((p, decide(facts, p.inbox.rules)))
            creates = [p for p, d in decided if isinstance(d, CreateIssue)]
            created_rows = (
                await session.create_issues_with_messages(
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
                await session.append_messages(
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
            await session.add_attachments_many([(row_id, p.message) for p, row_id in row_ids])
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
                processed = message_processed(
                    p.fetched, p.message.message_id, kind, decision.reason, number, p.attempt, self._clock()
                )
                planned.append((p, processed, title))
            recorded = await session.record_outcomes(
                [(processed, p.root if title is not None else None) for p, processed, title in planned]
            )
            for p, processed, title in planned:
                mine = recorded.get((processed.inbox_id, processed.uidvalidity, processed.uid))
                if mine is None:  # recorded by someone else first (a rejection): that one counts.
                    stored = await session.stored_outcome(processed)
                    assert stored is not None
                    outcome.results[p.position] = await reemit(session, stored)
                    continue
                event = issue_event(mine, title) if title is not None and mine.outcome.stored_on_issue else None
                outcome.results[p.position] = Result(mine, event)
