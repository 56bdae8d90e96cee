"""The values an inbox's settings take, named once for the three services (`config.inbox_settings`).

config-api validates and stores them, the fetcher connects and acts by them, the ingestor decides by
`UnmatchedAction`. The strings are what the API, the database and the console use.
"""

from __future__ import annotations

from enum import StrEnum


class Encryption(StrEnum):
    SSL = "ssl"  # implicit TLS from the first byte (RFC 8314 §3.2), usually port 993
    TLS = "tls"  # STARTTLS upgrade of a clear connection (RFC 3501 §6.2.1), usually port 143
    NONE = "none"


class FirstFetch(StrEnum):
    """What the first connection to a folder takes: only the unread messages, or all of them (DESIGN §2)."""

    UNREAD = "unread"
    ALL = "all"


class ProcessedAction(StrEnum):
    MARK_READ = "mark_read"
    DELETE = "delete"


class UnmatchedAction(StrEnum):
    CREATE_ISSUE = "create_issue"
    IGNORE = "ignore"
