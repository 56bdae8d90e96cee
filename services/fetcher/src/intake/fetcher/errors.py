"""The fetcher's own exceptions; IMAP failures are intake.shared.imap_errors.

FetcherError
 ├── InboxesUnavailable    the inbox list cannot be read yet (config-api has not migrated)
 └── AccessTokenError      config-api gave no OAuth2 access token (unreachable, 5xx): retried with backoff
      ├── AccessTokenRefused   config-api refused the request (401 service token, 404 inbox, no
      │                        INTAKE_SERVICE_TOKEN): an operator must fix the deployment
      └── NeedsReauth          the refresh token no longer works (409): a person must reconnect the
                               inbox; not asked again until the inbox's settings change
"""

from __future__ import annotations


class FetcherError(Exception):
    """Base of the fetcher's own errors."""


class InboxesUnavailable(FetcherError):
    """`config.inbox_settings` does not exist yet; the supervisor retries at its next refresh."""


class AccessTokenError(FetcherError):
    """No access token from config-api this time; `reason` says why in words for the inbox's status."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccessTokenRefused(AccessTokenError):
    """config-api refused to hand out a token: the deployment or the inbox's settings are wrong."""


class NeedsReauth(AccessTokenError):
    """The inbox's OAuth2 grant no longer works; config-api has marked it needs_reauth."""
