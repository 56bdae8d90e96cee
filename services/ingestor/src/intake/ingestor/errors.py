"""The ingestor's exceptions: why a message could not be processed.

    IngestorError
     ├── PermanentError          the message cannot be processed as it is → outcome `rejected`, acked
     │    ├── Unreadable         the bytes are not an email message
     │    ├── TooLarge           an attachment, or all of them, over the size limits
     │    ├── MissingBlob        the raw bytes are not in the blob store
     │    └── UnknownInbox       the inbox no longer exists
     └── DatabaseUnavailable     PostgreSQL cannot be reached: the delivery is held until it answers

Any other exception (a failing statement, RabbitMQ) is transient: the message is requeued after a
backoff, a bounded number of times (the queue's delivery limit), then dead-lettered with outcome
`failed`. Normal outcomes (ignored, duplicate) are values, never exceptions.
"""

from __future__ import annotations


class IngestorError(Exception):
    """Base of the ingestor's own errors."""


class PermanentError(IngestorError):
    """Retrying cannot help; `reason` says why in words a person can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreadable(PermanentError):
    """The raw bytes cannot be parsed as an email message at all."""


class TooLarge(PermanentError):
    """The attachments are over the size limits; the message stays in the mailbox."""


class MissingBlob(PermanentError):
    """The blob the fetcher referred to is not in the blob store."""


class UnknownInbox(PermanentError):
    """The inbox the message was fetched from no longer exists."""


class DatabaseUnavailable(IngestorError):
    """PostgreSQL refused or dropped the connection; nothing about this message is wrong.

    Retrying at once would only use up the message's deliveries while the database is down, so the
    handler holds the delivery and waits for the database instead (`database_watch.py`).
    """
