"""The messages the services exchange over RabbitMQ: frozen, versioned pydantic models.

A change to a field is a change of contract: bump `schema_version` and update the pinned JSON
schema in tests/unit/test_contracts.py. Raw mail never travels on the bus, only its blob reference.
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
    """Published by the fetcher once the raw bytes are in the blob store (`message.fetched`)."""

    schema_version: Literal[1] = 1
    raw_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    fetched_at: datetime


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
