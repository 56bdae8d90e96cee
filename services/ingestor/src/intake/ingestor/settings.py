"""The ingestor's settings: database, broker, logging, the subject tag, and how it works through messages.

Loaded once in `__main__` and passed down; nothing here reads the environment at import time.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from intake.ingestor.limits import AttachmentLimits
from intake.ingestor.matching import DEFAULT_TAG_PATTERN, compile_tag_pattern
from intake.shared.settings import AmqpSettings, DatabaseSettings, LoggingSettings, RetentionSettings


class IngestorSettings(LoggingSettings, DatabaseSettings, AmqpSettings, RetentionSettings):
    """`INTAKE_DATABASE_URL`, `INTAKE_AMQP_URL`, `INTAKE_LOG_LEVEL`, `INTAKE_DELIVERY_LIMIT`,
    `INTAKE_SUBJECT_TAG_PATTERN`, `INTAKE_INGESTOR_*`, the retention settings (`RetentionSettings`)."""

    # Where /healthz, /readyz and /metrics are served (INTAKE_INGESTOR_HTTP_HOST, INTAKE_INGESTOR_HTTP_PORT);
    # 0.0.0.0 in a container, so the orchestrator and Prometheus reach them.
    ingestor_http_host: str = Field(default="127.0.0.1", min_length=1)
    ingestor_http_port: int = Field(default=8082, ge=1, le=65535)

    # Deliveries RabbitMQ hands this process before it acks any (INTAKE_INGESTOR_PREFETCH). A delivery
    # holds up to one FETCH run of messages (32) under a burst, one when mail trickles in; 32 deliveries
    # keep a batch of 100 fed without one ingestor taking a backlog that other replicas could share.
    ingestor_prefetch: int = Field(default=32, ge=1, le=1000)
    # At most this many new messages are stored in one transaction (INTAKE_INGESTOR_BATCH_SIZE); 1 stores
    # each on its own. Batches are taken from the prefetched deliveries' messages.
    ingestor_batch_size: int = Field(default=100, ge=1, le=1000)
    # Largest attachment and largest sum of one message's attachments, in bytes; a message over
    # either is `rejected` and stays in the mailbox (INTAKE_INGESTOR_MAX_ATTACHMENT_BYTES,
    # INTAKE_INGESTOR_MAX_MESSAGE_ATTACHMENT_BYTES).
    ingestor_max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    ingestor_max_message_attachment_bytes: int = Field(default=50 * 1024 * 1024, ge=1)

    # How long the ingestor reuses an inbox's settings before reading them again
    # (INTAKE_INGESTOR_INBOX_CACHE_SECONDS): a change reaches it within this time; 0 reads them per message.
    ingestor_inbox_cache_seconds: float = Field(default=2.0, ge=0, le=300)

    def attachment_limits(self) -> AttachmentLimits:
        return AttachmentLimits(self.ingestor_max_attachment_bytes, self.ingestor_max_message_attachment_bytes)

    # The issue tag in a subject (INTAKE_SUBJECT_TAG_PATTERN): a regular expression with a named group
    # `number`. The default matches `[#42]`, `[Issue #42]`, `Re: Printer [ACME #42]`.
    subject_tag_pattern: str = DEFAULT_TAG_PATTERN
    # How long one delivery is held while PostgreSQL is unreachable before it is given back to the
    # queue (INTAKE_INGESTOR_DATABASE_WAIT_SECONDS). Keep it below RabbitMQ's consumer_timeout (30
    # minutes by default), which closes the channel of a consumer holding a delivery longer.
    ingestor_database_wait_seconds: float = Field(default=600.0, gt=0, le=1500)

    @field_validator("subject_tag_pattern")
    @classmethod
    def _is_tag_pattern(cls, value: str) -> str:
        compile_tag_pattern(value)
        return value

    @property
    def subject_tag(self) -> re.Pattern[str]:
        return compile_tag_pattern(self.subject_tag_pattern)
