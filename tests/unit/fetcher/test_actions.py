"""The mailbox action owed after each outcome."""

from __future__ import annotations

import doctest

import pytest

from intake.fetcher import actions
from intake.fetcher.actions import decide_action
from intake.shared.contracts import Outcome
from intake.shared.inbox_vocabulary import ProcessedAction


def test_docstring_examples() -> None:
    assert doctest.testmod(actions).failed == 0


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize("configured", list(ProcessedAction))
def test_only_messages_kept_on_an_issue_are_touched(outcome: Outcome, configured: ProcessedAction) -> None:
    decision = decide_action(outcome, configured)
    expected = configured if outcome in (Outcome.ISSUE_CREATED, Outcome.ISSUE_UPDATED) else None
    assert decision.action == expected
    assert outcome.value in decision.reason


def test_deleted_inbox_owes_nothing() -> None:
    assert decide_action(Outcome.ISSUE_CREATED, None).action is None
