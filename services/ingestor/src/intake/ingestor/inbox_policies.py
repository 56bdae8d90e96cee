"""The inbox policies the ingestor decides with, read through the issue store behind a short cache."""

from __future__ import annotations

import time

from intake.ingestor.issue_store import InboxPolicy, IssueSession


class InboxPolicies:
    """Each inbox's policy, read at most every `cache_seconds` (0: on every message)."""

    def __init__(self, cache_seconds: float) -> None:
        self._cache_seconds = cache_seconds
        self._cached: dict[int, tuple[float, InboxPolicy]] = {}

    async def get(self, session: IssueSession, inbox_id: int, *, fresh: bool) -> InboxPolicy | None:
        """The inbox's settings, or None when it no longer exists (a replay reads them afresh: it is
        asked for after someone changed them)."""
        now = time.monotonic()
        cached = self._cached.get(inbox_id)
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        inbox = await session.inbox_policy(inbox_id)
        if inbox is not None and self._cache_seconds > 0:
            self._cached[inbox_id] = (now + self._cache_seconds, inbox)
        return inbox
