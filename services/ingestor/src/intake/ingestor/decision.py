"""What to do with one parsed message: create an issue, append it to one, or skip it, with the reason.

Pure: the handler finds the facts (is the tag's issue there, is the thread or the Message-ID already
stored) and this module decides. Skips are outcomes with reasons, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from intake.ingestor.matching import SubjectMatch
from intake.shared.contracts import Outcome

UnmatchedAction = Literal["create_issue", "ignore"]


@dataclass(frozen=True)
class InboxRules:
    """The inbox settings that decide what happens to a message (from `config.inbox_settings`)."""

    unmatched_action: UnmatchedAction


@dataclass(frozen=True)
class Facts:
    """What the database says about one message, gathered under the thread's lock."""

    match: SubjectMatch
    # The subject's issue number names an existing issue.
    candidate_exists: bool
    # The issue that holds the thread's root Message-ID in this inbox, if any.
    thread_issue: int | None
    # The issue that already holds this Message-ID in this inbox, if any.
    stored_on_issue: int | None
    message_id: str | None = None
    thread_root: str | None = None


@dataclass(frozen=True)
class CreateIssue:
    reason: str


@dataclass(frozen=True)
class AppendToIssue:
    number: int
    reason: str


@dataclass(frozen=True)
class Skip:
    outcome: Outcome
    reason: str
    issue_number: int | None = None


Decision = CreateIssue | AppendToIssue | Skip


def decide(facts: Facts, rules: InboxRules) -> Decision:
    """Duplicate first, then the subject's issue, then the thread's issue, then `unmatched_action`.

    >>> from intake.ingestor.matching import match_subject
    >>> decide(Facts(match_subject("[#42] hi"), True, None, None), InboxRules("ignore"))
    AppendToIssue(number=42, reason='subject tag [#42] names issue #42')
    >>> decide(Facts(match_subject("[#999] hi"), False, None, None), InboxRules("create_issue")).reason
    'no issue matched (subject tag [#999] names issue #999, which does not exist): created a new issue'
    """
    if facts.stored_on_issue is not None:
        return Skip(
            Outcome.DUPLICATE,
            f"Message-ID {facts.message_id} is already stored on issue #{facts.stored_on_issue} for this inbox",
            facts.stored_on_issue,
        )
    if facts.match.number is not None and facts.candidate_exists:
        return AppendToIssue(facts.match.number, facts.match.reason)
    if facts.thread_issue is not None:
        return AppendToIssue(
            facts.thread_issue, f"reply in the thread of {facts.thread_root}, which is on issue #{facts.thread_issue}"
        )
    why = facts.match.reason
    if facts.match.number is not None:
        why = f"{facts.match.reason}, which does not exist"
    if rules.unmatched_action == "ignore":
        return Skip(Outcome.UNMATCHED_IGNORED, f"no issue matched ({why}) and the inbox ignores unmatched mail")
    return CreateIssue(f"no issue matched ({why}): created a new issue")
