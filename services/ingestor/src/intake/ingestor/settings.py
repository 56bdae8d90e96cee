"""The ingestor's settings: database, broker, logging, and how many messages it works on at once.

Loaded once in `__main__` and passed down; nothing here reads the environment at import time.
"""

from __future__ import annotations

from pydantic import Field

from intake.shared.settings import AmqpSettings, DatabaseSettings, LoggingSettings
from intake.shared.topology import DEFAULT_DELIVERY_LIMIT


class IngestorSettings(LoggingSettings, DatabaseSettings, AmqpSettings):
    """`INTAKE_DATABASE_URL`, `INTAKE_AMQP_URL`, `INTAKE_LOG_LEVEL`, `INTAKE_INGESTOR_*`."""

    # Messages RabbitMQ hands this process before it acks any (INTAKE_INGESTOR_PREFETCH).
    ingestor_prefetch: int = Field(default=16, ge=1, le=1000)
    # Deliveries of one message before it is dead-lettered as `failed` (INTAKE_INGESTOR_DELIVERY_LIMIT).
    ingestor_delivery_limit: int = Field(default=DEFAULT_DELIVERY_LIMIT, ge=1, le=100)
