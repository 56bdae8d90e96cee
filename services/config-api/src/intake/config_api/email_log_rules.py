"""What may be done with an email log row: whether it can be reprocessed, and how much of its raw message is stored.

Pure: decisions from the row's values, with the reason a person reads in the 409 answer.
"""

from __future__ import annotations

from enum import StrEnum

# DESIGN §1: `failed`, `rejected` and the skipped outcomes are replayable; a message on an issue, a
# duplicate or one still pending is not.
REPROCESSABLE = frozenset({"failed", "rejected", "ignored_sender", "unmatched_ignored", "auto_generated"})

# How a message that is on an issue got there, in words: the reason is read by people (console, 409 answer).
_ON_ISSUE = {"issue_created": "it created that issue", "issue_updated": "it was added to that issue"}


class RawState(StrEnum):
    """How much of a logged message the blob store holds."""

    COMPLETE = "complete"
    HEADER_ONLY = "header_only"  # the fetcher rejected it (too large) and kept only its header
    MISSING = "missing"


def raw_state(fetch_rejected: str | None, blob_stored: bool) -> RawState:
    """How much of the raw message there is.

    >>> raw_state(None, True), raw_state("larger than 25 MiB", True), raw_state(None, False)
    (<RawState.COMPLETE: 'complete'>, <RawState.HEADER_ONLY: 'header_only'>, <RawState.MISSING: 'missing'>)
    """
    if not blob_stored:
        return RawState.MISSING
    return RawState.HEADER_ONLY if fetch_rejected is not None else RawState.COMPLETE


def reprocess_refusal(outcome: str, issue_number: int | None, raw: RawState, fetch_rejected: str | None) -> str | None:
    """Why this row cannot be reprocessed, or None when it can.

    >>> reprocess_refusal("failed", None, RawState.COMPLETE, None) is None
    True
    >>> reprocess_refusal("issue_created", 7, RawState.COMPLETE, None)
    'the message is already on issue #7 (it created that issue); reprocessing it would file it twice'
    """
    if outcome == "pending":
        return "the message is still pending: wait for its outcome before reprocessing it"
    if outcome in _ON_ISSUE:
        on = f"issue #{issue_number}" if issue_number is not None else "an issue"
        how = _ON_ISSUE[outcome] if issue_number is not None else _ON_ISSUE[outcome].replace("that", "the")
        return f"the message is already on {on} ({how}); reprocessing it would file it twice"
    if outcome == "duplicate":
        return "the message duplicates one already processed for this inbox; reprocess that one if needed"
    if outcome not in REPROCESSABLE:
        return f"a message with outcome {outcome!r} cannot be reprocessed"
    if raw is RawState.HEADER_ONLY:
        return (
            f"only the header of this message is stored: the fetcher rejected it ({fetch_rejected}), so it cannot"
            " be processed again here; it is still in the mailbox for manual handling"
        )
    if raw is RawState.MISSING:
        return "the raw message is not in the blob store, so it cannot be processed again"
    return None
