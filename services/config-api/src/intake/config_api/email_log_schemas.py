"""The JSON shapes of the email log in the HTTP API (DESIGN §3): a row, its outcome, and one row in detail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from intake.config_api.email_log_rules import RawState
from intake.shared.contracts import Outcome


class LogOutcome(StrEnum):
    """An email log row's outcome: `pending` until `message.processed` arrives, then the contract's Outcome."""

    PENDING = "pending"
    ISSUE_CREATED = Outcome.ISSUE_CREATED.value
    ISSUE_UPDATED = Outcome.ISSUE_UPDATED.value
    IGNORED_SENDER = Outcome.IGNORED_SENDER.value
    UNMATCHED_IGNORED = Outcome.UNMATCHED_IGNORED.value
    AUTO_GENERATED = Outcome.AUTO_GENERATED.value
    DUPLICATE = Outcome.DUPLICATE.value
    REJECTED = Outcome.REJECTED.value
    FAILED = Outcome.FAILED.value


class EmailLogEntry(BaseModel):
    """One fetched message (DESIGN §3). `outcome` is `pending` until `message.processed` arrives.

    Fields the fetch event brings (`from`, `subject`, `size`, `fetched_at`) are null while only the
    processed event has arrived.
    """

    model_config = ConfigDict(populate_by_name=True)

    id: int
    inbox_id: int
    uidvalidity: int
    uid: int
    message_id: str | None
    from_: str | None = Field(alias="from")
    subject: str | None
    size: int | None
    fetched_at: datetime | None
    processed_at: datetime | None
    outcome: LogOutcome
    reason: str | None
    issue_number: int | None
    attempts: int | None


class HeaderField(BaseModel):
    name: str
    value: str


class IssueRef(BaseModel):
    """The issue an email log row names, as far as the tracker shows it."""

    number: int
    title: str
    status: str


class EmailLogDetail(EmailLogEntry):
    """One email log row with what GET /api/v1/email-log/{id} adds: headers, raw message state, the issue.

    `raw_state`: `complete`; `header_only` when the fetcher rejected the message (too large) and stored
    only its header (`fetch_rejected` says why); `missing` when the blob store does not have it.
    `headers` come from the stored raw message (empty when it is missing). `correlation_id` is the id the
    fetcher gave the message: every service's log lines about it carry it (null for rows logged before).
    """

    headers: list[HeaderField]
    raw_state: RawState
    fetch_rejected: str | None
    issue: IssueRef | None
    reprocessable: bool
    reprocess_refusal: str | None
    reprocessed_at: datetime | None
    reprocessed_from: LogOutcome | None
    correlation_id: str | None = None
