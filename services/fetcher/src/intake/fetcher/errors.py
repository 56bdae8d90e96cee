"""The fetcher's own exceptions; IMAP failures are intake.shared.imap_errors.

FetcherError
 └── InboxesUnavailable    the inbox list cannot be read yet (config-api has not migrated)
"""

from __future__ import annotations


class FetcherError(Exception):
    """Base of the fetcher's own errors."""


class InboxesUnavailable(FetcherError):
    """`config.inbox_settings` does not exist yet; the supervisor retries at its next refresh."""
