"""decision.decide: duplicate, subject match, thread match, and the inbox's unmatched_action."""

from __future__ import annotations

import pytest

from intake.ingestor.decision import AppendToIssue, CreateIssue, Facts, InboxRules, Skip, UnmatchedAction, decide
from intake.ingestor.matching import match_subject
from intake.shared.contracts import Outcome

CREATE = InboxRules("create_issue")
IGNORE = InboxRules("ignore")


def facts(
    subject: str, *, exists: bool = False, thread_issue: int | None = None, stored_on: int | None = None
) -> Facts:
    return Facts(
        match=match_subject(subject),
        candidate_exists=exists,
        thread_issue=thread_issue,
        stored_on_issue=stored_on,
        message_id="<m@example.com>",
        thread_root="<root@example.com>",
    )


@pytest.mark.parametrize("rules", [CREATE, IGNORE])
def test_existing_issue_in_subject_appends(rules: InboxRules) -> None:
    assert decide(facts("Re: [#42] printer", exists=True), rules) == AppendToIssue(
        42, "subject tag [#42] names issue #42"
    )


def test_unknown_issue_number_is_no_match() -> None:
    decision = decide(facts("[#999] printer"), CREATE)
    assert decision == CreateIssue(
        "no issue matched (subject tag [#999] names issue #999, which does not exist): created a new issue"
    )


def test_no_tag_creates_an_issue() -> None:
    decision = decide(facts("Printer on fire"), CREATE)
    assert decision == CreateIssue("no issue matched (subject has no issue tag like [#42]): created a new issue")


@pytest.mark.parametrize("subject", ["Printer on fire", "[#999] printer"])
def test_unmatched_and_ignored(subject: str) -> None:
    decision = decide(facts(subject), IGNORE)
    assert isinstance(decision, Skip)
    assert decision.outcome is Outcome.UNMATCHED_IGNORED
    assert decision.reason.endswith("and the inbox ignores unmatched mail")
    assert decision.issue_number is None


@pytest.mark.parametrize("action", ["create_issue", "ignore"])
def test_thread_issue_appends(action: UnmatchedAction) -> None:
    decision = decide(facts("Re: Printer on fire", thread_issue=7), InboxRules(action))
    assert decision == AppendToIssue(7, "reply in the thread of <root@example.com>, which is on issue #7")


def test_subject_match_wins_over_thread() -> None:
    assert decide(facts("[#3] x", exists=True, thread_issue=7), CREATE) == AppendToIssue(
        3, "subject tag [#3] names issue #3"
    )


def test_duplicate_wins_over_everything() -> None:
    decision = decide(facts("[#3] x", exists=True, thread_issue=7, stored_on=5), CREATE)
    assert decision == Skip(
        Outcome.DUPLICATE, "Message-ID <m@example.com> is already stored on issue #5 for this inbox", 5
    )
