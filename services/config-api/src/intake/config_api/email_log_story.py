"""What happened to a logged message, in words a person reads: each outcome explained, and the timeline
fetched → processed → mailbox action with times.

Pure: values in, words out. The mailbox step comes from the fetcher's record (`mailbox_actions`), which
may be missing (pruned, or not readable here); that is said, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# What each outcome means, in a sentence (the console's labels name them: console/labels.py).
OUTCOME_WHY: dict[str, str] = {
    "pending": "Fetched from the mailbox; the ingestor has not decided yet.",
    "issue_created": "A new issue was made from this message.",
    "issue_updated": "The message was added to an existing issue.",
    "ignored_sender": "The sender matches an entry of this inbox's ignored senders, so no issue was made."
    " The message stays in the mailbox.",
    "unmatched_ignored": "No issue number or thread matched, and this inbox leaves unmatched mail in the mailbox"
    " for manual handling.",
    "auto_generated": "An automatic reply or delivery report that matched no issue; such mail never creates an issue.",
    "duplicate": "The same message was already processed for this inbox.",
    "rejected": "The message cannot be processed as it is; it stays in the mailbox for manual handling.",
    "failed": "Processing kept failing after retries. Once the cause below is fixed, reprocess the message.",
}


def why(outcome: str) -> str:
    """What `outcome` means; an outcome this version does not know is named as it is.

    >>> why("duplicate"), why("brand_new")
    ('The same message was already processed for this inbox.', "Outcome 'brand_new'.")
    """
    return OUTCOME_WHY.get(outcome, f"Outcome {outcome!r}.")


class StepState(StrEnum):
    DONE = "done"
    WAITING = "waiting"
    SKIPPED = "skipped"  # nothing to do for this message
    FAILED = "failed"
    NOT_RECORDED = "not_recorded"


STEP_STATE_WORDS = {
    StepState.DONE: "Done",
    StepState.WAITING: "Waiting",
    StepState.SKIPPED: "Nothing to do",
    StepState.FAILED: "Failed",
    StepState.NOT_RECORDED: "Not recorded",
}


@dataclass(frozen=True)
class TimelineStep:
    name: str
    state: StepState
    at: datetime | None
    detail: str


@dataclass(frozen=True)
class MailboxRecord:
    """The fetcher's record of the mailbox action for one message (`fetcher.message_action_view`)."""

    action: str | None  # mark_read, delete, or None when the message is left in the mailbox
    state: str | None  # pending, done, abandoned
    attempts: int
    error: str | None
    done_at: datetime | None


@dataclass(frozen=True)
class LoggedRow:
    """The email log values the timeline is told from."""

    fetched_at: datetime | None
    processed_at: datetime | None
    outcome: str
    fetch_rejected: str | None = None
    reprocessed_at: datetime | None = None
    reprocessed_from: str | None = None


_ACTION_DONE = {"mark_read": "Marked as read in the mailbox", "delete": "Deleted from the mailbox"}
_ACTION_NAMES = {"mark_read": "mark as read", "delete": "delete"}


def _fetched(row: LoggedRow) -> TimelineStep:
    if row.fetched_at is None:
        return TimelineStep("Fetched", StepState.NOT_RECORDED, None, "The fetch has not been recorded yet.")
    if row.fetch_rejected:
        detail = f"Refused by the fetcher: {row.fetch_rejected}. Only the header was kept."
        return TimelineStep("Fetched", StepState.DONE, row.fetched_at, detail)
    return TimelineStep("Fetched", StepState.DONE, row.fetched_at, "Stored and handed to the ingestor.")


def _processed(row: LoggedRow, label: Callable[[str], str]) -> TimelineStep:
    if row.outcome == "pending":
        if row.reprocessed_at is not None:
            was = label(row.reprocessed_from or "unknown")
            detail = f"Reprocessing was requested (it was {was}); waiting for the ingestor."
            return TimelineStep("Processed", StepState.WAITING, row.reprocessed_at, detail)
        return TimelineStep("Processed", StepState.WAITING, None, "Waiting for the ingestor.")
    state = StepState.FAILED if row.outcome == "failed" else StepState.DONE
    return TimelineStep("Processed", state, row.processed_at, f"{label(row.outcome)}.")


def _mailbox(row: LoggedRow, record: MailboxRecord | None, readable: bool) -> TimelineStep:
    name = "Mailbox action"
    if not readable:
        detail = "Not recorded here: the fetcher's records are not readable."
        return TimelineStep(name, StepState.NOT_RECORDED, None, detail)
    if row.outcome == "pending":
        detail = "Waits for the outcome: the mailbox is touched only after the message is safely stored."
        return TimelineStep(name, StepState.WAITING, None, detail)
    if record is None:
        detail = "Not recorded: the fetcher keeps no record of this message (it may have been pruned)."
        return TimelineStep(name, StepState.NOT_RECORDED, None, detail)
    if record.action is None:
        detail = "None: the message was left in the mailbox untouched."
        return TimelineStep(name, StepState.SKIPPED, None, detail)
    action = _ACTION_NAMES.get(record.action, record.action)
    if record.state == "done":
        return TimelineStep(name, StepState.DONE, record.done_at, f"{_ACTION_DONE.get(record.action, action)}.")
    if record.state == "abandoned":
        detail = f"Gave up on “{action}” after {record.attempts} attempts: {record.error or 'no error recorded'}."
        return TimelineStep(name, StepState.FAILED, None, detail)
    tried = f" ({record.attempts} failed so far: {record.error})" if record.attempts and record.error else ""
    return TimelineStep(name, StepState.WAITING, None, f"“{action}” is due{tried}.")


def timeline(
    row: LoggedRow, mailbox: MailboxRecord | None, mailbox_readable: bool, label: Callable[[str], str] = str
) -> list[TimelineStep]:
    """The three steps of a logged message, each with its state, time and what it meant; `label` names an outcome.

    >>> from datetime import UTC
    >>> at = datetime(2025, 1, 1, tzinfo=UTC)
    >>> done = MailboxRecord("mark_read", "done", 0, None, at)
    >>> [(s.name, s.state.value) for s in timeline(LoggedRow(at, at, "issue_created"), done, True)]
    [('Fetched', 'done'), ('Processed', 'done'), ('Mailbox action', 'done')]
    >>> timeline(LoggedRow(at, at, "ignored_sender"), MailboxRecord(None, None, 0, None, None), True)[2].detail
    'None: the message was left in the mailbox untouched.'
    """
    return [_fetched(row), _processed(row, label), _mailbox(row, mailbox, mailbox_readable)]
