"""The messages the services exchange over RabbitMQ: frozen, versioned pydantic models.

A change to a field is a change of contract: bump `schema_version` and update the pinned JSON
schema in tests/unit/shared/test_contracts.py. Raw mail never travels on the bus, only its blob reference.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    """The final outcome of one fetched message (DESIGN §1, email log)."""

    ISSUE_CREATED = "issue_created"
    ISSUE_UPDATED = "issue_updated"
    IGNORED_SENDER = "ignored_sender"
    UNMATCHED_IGNORED = "unmatched_ignored"
    AUTO_GENERATED = "auto_generated"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def stored_on_issue(self) -> bool:
        """This very message is safely kept on an issue, so the mailbox action may be applied.

        Not `duplicate`: that is decided on (inbox, Message-ID), and a sender that reuses a
        Message-ID for different content must not have that content marked read or deleted.
        """
        return self in (Outcome.ISSUE_CREATED, Outcome.ISSUE_UPDATED)


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MessageRef(Contract):
    """Identifies one message in one mailbox folder: the idempotency key (inbox, UIDVALIDITY, UID)."""

    inbox_id: int = Field(ge=1)
    uidvalidity: int = Field(ge=1, le=2**32 - 1)
    uid: int = Field(ge=1, le=2**32 - 1)


class MessageFetched(MessageRef):
    """Published by the fetcher once the raw bytes are in the blob store (`message.fetched`).

    `rejected` is set when the fetcher refused the message as it is (larger than the size limit):
    the blob then holds only the message's header, and the ingestor records `rejected` with this
    reason without parsing. `replay` is set by the email log's reprocess: the ingestor decides
    again instead of re-emitting a stored skip, rejection or failure (never a stored issue).
    `received_at` (version 3) is the message's IMAP INTERNALDATE, its arrival in the mailbox: where
    the delivery latency is measured from. Versions 1 and 2 (without the fields they lack) are still
    accepted.
    """

    schema_version: Literal[1, 2, 3] = 3
    raw_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    fetched_at: datetime
    rejected: str | None = None
    replay: bool = False
    received_at: datetime | None = None


class FetchedEntry(Contract):
    """One fetched message inside a `FetchedBatch`, with its correlation id (a single `MessageFetched`
    carries it in the `x-correlation-id` header instead)."""

    fetched: MessageFetched
    correlation_id: str | None = None


class FetchedBatch(Contract):
    """Published by the fetcher on `message.fetched` for the messages of one FETCH that it stored together:
    one AMQP message instead of one each (see `ProcessedBatch` for why). Consumers read both shapes
    (`batched_events.py`); a lone message, and every reprocess, is still one `MessageFetched`.
    """

    schema_version: Literal[1] = 1
    messages: list[FetchedEntry] = Field(min_length=1)


class MessageProcessed(MessageRef):
    """Published by the ingestor for every message it finished with, skips and failures included."""

    schema_version: Literal[1] = 1
    raw_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    message_id: str | None = None
    outcome: Outcome
    reason: str
    issue_number: int | None = None
    attempts: int = Field(ge=1)
    processed_at: datetime


class ProcessedEntry(Contract):
    """One message's outcome inside a `ProcessedBatch`, with the correlation id its `message.fetched` carried
    (a single `MessageProcessed` carries it in the `x-correlation-id` header instead)."""

    processed: MessageProcessed
    correlation_id: str | None = None


class ProcessedBatch(Contract):
    """Published by the ingestor's batch path on `message.processed`: the outcomes of the messages one
    transaction committed, in one AMQP message instead of one each.

    Every publish and every delivery costs RabbitMQ and both ends a fixed amount of CPU, more than the
    consumers' work per outcome (docs/benchmarks.md); a batch pays it once. Consumers read both shapes
    (`batched_events.py`); a batch of one, and the other paths (repeats, retries, failures, replays),
    still publish one `MessageProcessed` each.
    """

    schema_version: Literal[1] = 1
    messages: list[ProcessedEntry] = Field(min_length=1)


class InboxState(StrEnum):
    """The health of one inbox as shown on it (DESIGN §1)."""

    OK = "ok"
    ERROR = "error"
    NEEDS_REAUTH = "needs_reauth"
    DISABLED = "disabled"


class InboxStatus(Contract):
    """Published by the fetcher that owns an inbox whenever its health changes, and after every success
    at most once a minute (`inbox.status`). The newest `reported_at` wins."""

    schema_version: Literal[1] = 1
    inbox_id: int = Field(ge=1)
    state: InboxState
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = Field(ge=0)
    push: bool | None = None
    reported_at: datetime


class InboxChanged(Contract):
    """Published by config-api when an inbox was created, changed or deleted (`inbox.changed`).

    A hint that makes the owning fetcher re-read the inbox at once; fetchers also re-read on their
    own, so a lost hint delays a change, it never loses one.
    """

    schema_version: Literal[1] = 1
    inbox_id: int = Field(ge=1)
    changed_at: datetime


class IssueEventKind(StrEnum):
    CREATED = "issue.created"
    UPDATED = "issue.updated"


class IssueEvent(Contract):
    """Published by the ingestor after the commit that created an issue or appended a message to it
    (`issue.created` / `issue.updated`), for other systems to follow."""

    schema_version: Literal[1] = 1
    kind: IssueEventKind
    issue_number: int = Field(ge=1)
    inbox_id: int = Field(ge=1)
    message_id: str | None = None
    title: str
    occurred_at: datetime
