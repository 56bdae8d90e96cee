"""A fake `IssueStore` in memory: issues, messages, threads, outcomes, raw blobs and inbox policies.

It keeps what `repository.py` and `batch_repository.py` keep in PostgreSQL, with their rules: issue
numbers in order, the first issue a thread is tied to keeps it, a stored outcome is kept (a replay
replaces one that did not put the message on an issue). A transaction that raises is rolled back;
locks are no-ops (one event loop, no concurrent sessions in a unit test). `unreachable = True` makes
every session and operation raise `ConnectionRefusedError`, as a stopped PostgreSQL does; `refuse`
makes storing a message whose subject contains it fail, as a statement that always fails does.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType

from intake.ingestor.decision import InboxRules
from intake.ingestor.issue_store import BatchUnderLock, InboxPolicy, UnderLock
from intake.ingestor.parsing import ParsedMessage
from intake.ingestor.tracker_rows import issue_title_of
from intake.shared.blobs import blob_key
from intake.shared.contracts import MessageProcessed, MessageRef
from intake.shared.inbox_vocabulary import UnmatchedAction

Key = tuple[int, int, int]


def key_of(ref: MessageRef) -> Key:
    return ref.inbox_id, ref.uidvalidity, ref.uid


def policy(
    unmatched_action: UnmatchedAction = UnmatchedAction.CREATE_ISSUE,
    *,
    ignored_senders: tuple[str, ...] = (),
    issue_type_id: int | None = 1,
    default_language: str | None = "en",
    assigned_user_id: int | None = None,
    assigned_organisation_id: int | None = None,
) -> InboxPolicy:
    """An inbox policy, by default one that creates issues for unmatched mail."""
    return InboxPolicy(
        rules=InboxRules(unmatched_action=unmatched_action, ignored_senders=ignored_senders),
        issue_type_id=issue_type_id,
        default_language=default_language,
        assigned_user_id=assigned_user_id,
        assigned_organisation_id=assigned_organisation_id,
    )


@dataclass
class StoredMessage:
    """A message row of an issue; `attachments` as (filename, content type, blob key)."""

    row_id: int
    issue_number: int
    key: Key
    message_id: str | None
    subject: str
    raw_sha256: str
    attachments: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class StoredIssue:
    """An issue: its title, requester and inbox, the policy it was created with, and how often it was touched."""

    number: int
    title: str
    inbox_id: int
    requester_email: str | None
    policy: InboxPolicy
    updates: int = 0


@dataclass
class Tables:
    """Everything the fake stores; copied whole at a transaction's start, put back on its rollback."""

    issues: dict[int, StoredIssue] = field(default_factory=dict)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    threads: dict[tuple[int, str], int] = field(default_factory=dict)
    outcomes: dict[Key, MessageProcessed] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    next_issue: int = 1
    next_row: int = 1


class FakeIssueStore:
    """`IssueStore` in memory; tests read and seed `tables` and `inboxes` directly."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.inboxes: dict[int, InboxPolicy] = {}
        self.unreachable = False
        self.refuse: str | None = None
        self.rollbacks = 0

    def put_raw(self, raw: bytes) -> str:
        """Store raw mail as the fetcher does; its blob key."""
        key = blob_key(raw)
        self.tables.blobs[key] = raw
        return key

    def messages_on(self, number: int) -> list[StoredMessage]:
        return [m for m in self.tables.messages.values() if m.issue_number == number]

    def reach(self) -> None:
        if self.unreachable:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    def session(self) -> FakeSession:
        return FakeSession(self)


class FakeSession:
    """`IssueSession` on the fake's tables."""

    def __init__(self, store: FakeIssueStore) -> None:
        self._store = store

    @property
    def _tables(self) -> Tables:
        self._store.reach()
        return self._store.tables

    async def __aenter__(self) -> FakeSession:
        self._store.reach()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        store = self._store
        store.reach()
        saved = copy.deepcopy(store.tables)
        try:
            yield
        except BaseException:
            store.tables = saved
            store.rollbacks += 1
            raise

    # One message

    async def stored_outcome_or_raw(
        self, ref: MessageRef, raw_sha256: str
    ) -> tuple[MessageProcessed | None, bytes | None]:
        t = self._tables
        return t.outcomes.get(key_of(ref)), t.blobs.get(raw_sha256)

    async def stored_outcome(self, ref: MessageRef) -> MessageProcessed | None:
        return self._tables.outcomes.get(key_of(ref))

    async def inbox_policy(self, inbox_id: int) -> InboxPolicy | None:
        self._store.reach()
        return self._store.inboxes.get(inbox_id)

    async def issue_exists(self, number: int) -> bool:
        return number in self._tables.issues

    async def issue_title(self, number: int) -> str | None:
        issue = self._tables.issues.get(number)
        return None if issue is None else issue.title

    async def lock(self, *keys: int) -> None:
        self._store.reach()

    async def read_under_lock(self, ref: MessageRef, candidates: Sequence[str]) -> UnderLock:
        t = self._tables
        on_issues: dict[str, int] = {}
        for message in t.messages.values():
            if message.key[0] == ref.inbox_id and message.message_id is not None and message.message_id in candidates:
                on_issues.setdefault(message.message_id, message.issue_number)
        roots = {c: t.threads[(ref.inbox_id, c)] for c in candidates if (ref.inbox_id, c) in t.threads}
        return UnderLock(stored=t.outcomes.get(key_of(ref)), on_issues=on_issues, thread_roots=roots)

    async def record_outcome(
        self, processed: MessageProcessed, *, replace_skip: bool = False, thread_root: str | None = None
    ) -> MessageProcessed:
        t = self._tables
        if thread_root is not None and processed.issue_number is not None:
            t.threads.setdefault((processed.inbox_id, thread_root), processed.issue_number)
        stored = t.outcomes.get(key_of(processed))
        if stored is None or (replace_skip and not stored.outcome.stored_on_issue):
            t.outcomes[key_of(processed)] = processed
            return processed
        return stored

    async def create_issue_with_message(
        self, ref: MessageRef, raw_sha256: str, message: ParsedMessage, inbox: InboxPolicy
    ) -> tuple[int, str]:
        number, title, row_id = self._create(ref, raw_sha256, message, inbox)
        await self.add_attachments_many([(row_id, message)])
        return number, title

    async def touch_issue(self, number: int) -> str:
        issue = self._tables.issues[number]
        issue.updates += 1
        return issue.title

    async def add_message(self, issue_number: int, ref: MessageRef, raw_sha256: str, message: ParsedMessage) -> int:
        row_id = self._add(issue_number, ref, raw_sha256, message)
        await self.add_attachments_many([(row_id, message)])
        return row_id

    # A batch

    async def stored_or_raw_many(
        self, refs: Sequence[MessageRef], raw_sha256s: Sequence[str | None]
    ) -> list[tuple[bool, bytes | None]]:
        t = self._tables
        firsts: list[tuple[bool, bytes | None]] = []
        for ref, sha in zip(refs, raw_sha256s, strict=True):
            stored = key_of(ref) in t.outcomes
            firsts.append((stored, None if stored or sha is None else t.blobs.get(sha)))
        return firsts

    async def existing_issues(self, numbers: Sequence[int]) -> set[int]:
        return {number for number in numbers if number in self._tables.issues}

    async def read_under_lock_many(
        self, refs: Sequence[MessageRef], candidates: Sequence[tuple[int, str]]
    ) -> BatchUnderLock:
        t = self._tables
        wanted = set(candidates)
        on_issues: dict[tuple[int, str], int] = {}
        for message in t.messages.values():
            if message.message_id is not None and (message.key[0], message.message_id) in wanted:
                on_issues.setdefault((message.key[0], message.message_id), message.issue_number)
        return BatchUnderLock(
            stored={key_of(ref) for ref in refs if key_of(ref) in t.outcomes},
            on_issues=on_issues,
            thread_roots={c: t.threads[c] for c in wanted if c in t.threads},
        )

    async def create_issues_with_messages(
        self,
        refs: Sequence[MessageRef],
        raw_sha256s: Sequence[str],
        messages: Sequence[ParsedMessage],
        inboxes: Sequence[InboxPolicy],
    ) -> list[tuple[int, str, int]]:
        return [self._create(*row) for row in zip(refs, raw_sha256s, messages, inboxes, strict=True)]

    async def append_messages(
        self,
        numbers: Sequence[int],
        refs: Sequence[MessageRef],
        raw_sha256s: Sequence[str],
        messages: Sequence[ParsedMessage],
    ) -> tuple[dict[int, str], list[int]]:
        titles = {number: await self.touch_issue(number) for number in dict.fromkeys(numbers)}
        rows = [self._add(*row) for row in zip(numbers, refs, raw_sha256s, messages, strict=True)]
        return titles, rows

    async def add_attachments_many(self, messages: Sequence[tuple[int, ParsedMessage]]) -> None:
        t = self._tables
        for row_id, message in messages:
            for attachment in message.attachments:
                key = blob_key(attachment.content)
                t.blobs.setdefault(key, attachment.content)
                t.messages[row_id].attachments.append((attachment.filename, attachment.content_type, key))

    async def record_outcomes(
        self, outcomes: Sequence[tuple[MessageProcessed, str | None]]
    ) -> dict[tuple[int, int, int], MessageProcessed]:
        recorded: dict[Key, MessageProcessed] = {}
        for processed, root in outcomes:
            if key_of(processed) not in self._tables.outcomes:
                recorded[key_of(processed)] = processed
            await self.record_outcome(processed, thread_root=root)
        return recorded

    def _create(
        self, ref: MessageRef, raw_sha256: str, message: ParsedMessage, inbox: InboxPolicy
    ) -> tuple[int, str, int]:
        t = self._tables
        number, t.next_issue = t.next_issue, t.next_issue + 1
        title = issue_title_of(message)
        sender = message.sender.address if message.sender else None
        t.issues[number] = StoredIssue(number, title, ref.inbox_id, sender, inbox)
        return number, title, self._add(number, ref, raw_sha256, message)

    def _add(self, issue_number: int, ref: MessageRef, raw_sha256: str, message: ParsedMessage) -> int:
        t = self._tables
        if self._store.refuse is not None and self._store.refuse in message.subject:
            raise RuntimeError(f"storing {message.message_id} refused for the test")
        row_id, t.next_row = t.next_row, t.next_row + 1
        t.messages[row_id] = StoredMessage(
            row_id, issue_number, key_of(ref), message.message_id, message.subject, raw_sha256
        )
        return row_id
