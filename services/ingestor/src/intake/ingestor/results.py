"""What the ingestor publishes for one message: its `Result`, the `MessageProcessed` of an outcome and the
`IssueEvent` when it is on an issue, built the same way on the one-message path and the batch path.

Pure but for `reemit`, which reads the issue's title again for an outcome already stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from intake.ingestor.issue_store import IssueSession
from intake.shared.contracts import IssueEvent, IssueEventKind, MessageFetched, MessageProcessed, Outcome


@dataclass(frozen=True)
class Result:
    """What to publish for one message: its outcome, and the issue event when it is on an issue."""

    processed: MessageProcessed
    event: IssueEvent | None = None


def decides_again(fetched: MessageFetched, stored: MessageProcessed) -> bool:
    """A replay (the email log's reprocess) decides again, unless the message is already on an issue:
    then its outcome is re-emitted and no second copy is made."""
    return fetched.replay and not stored.outcome.stored_on_issue


def message_processed(
    fetched: MessageFetched,
    message_id: str | None,
    outcome: Outcome,
    reason: str,
    issue_number: int | None,
    attempt: int,
    processed_at: datetime,
) -> MessageProcessed:
    """The outcome of `fetched` as recorded and published."""
    return MessageProcessed(
        inbox_id=fetched.inbox_id,
        uidvalidity=fetched.uidvalidity,
        uid=fetched.uid,
        raw_sha256=fetched.raw_sha256,
        message_id=message_id,
        outcome=outcome,
        reason=reason,
        issue_number=issue_number,
        attempts=attempt,
        processed_at=processed_at,
    )


def issue_event(processed: MessageProcessed, title: str) -> IssueEvent:
    """The event of an outcome that put the message on an issue titled `title`."""
    assert processed.issue_number is not None
    return IssueEvent(
        kind=IssueEventKind.CREATED if processed.outcome is Outcome.ISSUE_CREATED else IssueEventKind.UPDATED,
        issue_number=processed.issue_number,
        inbox_id=processed.inbox_id,
        message_id=processed.message_id,
        title=title,
        # The commit's time: the same on a re-emission, so a follower can tell a repeat.
        occurred_at=processed.processed_at,
    )


async def reemit(session: IssueSession, stored: MessageProcessed) -> Result:
    """The stored outcome again, with its issue event when it is on an issue (at least once)."""
    if not stored.outcome.stored_on_issue or stored.issue_number is None:
        return Result(stored)
    title = await session.issue_title(stored.issue_number)
    return Result(stored, None if title is None else issue_event(stored, title))
