"""The ingestor's settings: database, broker, logging, and how many messages it works on at once.

Loaded once in `__main__` and passed down; nothing here reads the environment at import time.
"""

from __future__ import annotations

from pydantic import Field

from intake.shared.settings import AmqpSettings, DatabaseSettings, LoggingSettings


class IngestorSettings(LoggingSettings, DatabaseSettings, AmqpSettings):
    """`INTAKE_DATABASE_URL`, `INTAKE_AMQP_URL`, `INTAKE_LOG_LEVEL`, `INTAKE_DELIVERY_LIMIT`, `INTAKE_INGESTOR_*`."""

    # Messages RabbitMQ hands this process before it acks any (INTAKE_INGESTOR_PREFETCH).
    ingestor_prefetch: int = Field(default=16, ge=1, le=1000)
