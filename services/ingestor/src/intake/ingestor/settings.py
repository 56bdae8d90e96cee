"""The ingestor's settings: database, broker, logging, and how many messages it works on at once.

Loaded once in `__main__` and passed down; nothing here reads the environment at import time.
"""

from __future__ import annotations

from pydantic import Field

from intake.ingestor.limits import AttachmentLimits
from intake.shared.settings import AmqpSettings, DatabaseSettings, LoggingSettings


class IngestorSettings(LoggingSettings, DatabaseSettings, AmqpSettings):
    """`INTAKE_DATABASE_URL`, `INTAKE_AMQP_URL`, `INTAKE_LOG_LEVEL`, `INTAKE_DELIVERY_LIMIT`, `INTAKE_INGESTOR_*`."""

    # Messages RabbitMQ hands this process before it acks any (INTAKE_INGESTOR_PREFETCH).
    ingestor_prefetch: int = Field(default=16, ge=1, le=1000)
    # Largest attachment and largest sum of one message's attachments, in bytes; a message over
    # either is `rejected` and stays in the mailbox (INTAKE_INGESTOR_MAX_ATTACHMENT_BYTES,
    # INTAKE_INGESTOR_MAX_MESSAGE_ATTACHMENT_BYTES).
    ingestor_max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    ingestor_max_message_attachment_bytes: int = Field(default=50 * 1024 * 1024, ge=1)

    def attachment_limits(self) -> AttachmentLimits:
        return AttachmentLimits(self.ingestor_max_attachment_bytes, self.ingestor_max_message_attachment_bytes)
