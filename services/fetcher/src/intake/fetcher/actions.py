"""What to do in the mailbox once a message's outcome is known (pure).

The mailbox is touched only when the outcome says the message is safely kept on an issue
(DESIGN §2); skipped messages stay untouched and are remembered as handled.
"""

from __future__ import annotations

from dataclasses import dataclass

from intake.shared.contracts import Outcome
from intake.shared.inbox_vocabulary import ProcessedAction


@dataclass(frozen=True)
class ActionDecision:
    action: ProcessedAction | None
    reason: str


def decide_action(outcome: Outcome, processed_action: ProcessedAction | None) -> ActionDecision:
    """The mailbox action owed after `outcome`, for an inbox configured with `processed_action`.

    >>> decide_action(Outcome.ISSUE_CREATED, ProcessedAction.DELETE)
    ActionDecision(action=<ProcessedAction.DELETE: 'delete'>, reason='stored on an issue (issue_created)')
    >>> decide_action(Outcome.IGNORED_SENDER, ProcessedAction.MARK_READ).action is None
    True
    """
    if not outcome.stored_on_issue:
        return ActionDecision(None, f"left in the mailbox ({outcome.value})")
    if processed_action is None:
        return ActionDecision(None, "the inbox no longer exists")
    return ActionDecision(processed_action, f"stored on an issue ({outcome.value})")


# IMAP system flags per action (RFC 3501 §2.3.2).
SEEN = "\\Seen"
DELETED = "\\Deleted"
