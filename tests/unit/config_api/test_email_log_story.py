"""The email log's timeline and outcome words: every state of each step, told in words."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import pytest

from intake.config_api import email_log_story
from intake.config_api.console.labels import outcome_label
from intake.config_api.email_log_schemas import LogOutcome
from intake.config_api.email_log_story import OUTCOME_WHY, LoggedRow, MailboxRecord, StepState, timeline

AT = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_docstring_examples() -> None:
    result = doctest.testmod(email_log_story)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_outcome_is_explained() -> None:
    assert set(OUTCOME_WHY) == {outcome.value for outcome in LogOutcome}
    assert all(sentence.endswith(".") for sentence in OUTCOME_WHY.values())


def test_a_message_on_an_issue_has_three_times() -> None:
    record = MailboxRecord("delete", "done", 0, None, AT + timedelta(seconds=3))
    steps = timeline(LoggedRow(AT, AT + timedelta(seconds=1), "issue_created"), record, True, outcome_label)
    assert [(step.state, step.at) for step in steps] == [
        (StepState.DONE, AT),
        (StepState.DONE, AT + timedelta(seconds=1)),
        (StepState.DONE, AT + timedelta(seconds=3)),
    ]
    assert steps[1].detail == "Issue created."
    assert steps[2].detail == "Deleted from the mailbox."


@pytest.mark.parametrize(
    ("record", "readable", "state", "words"),
    [
        (None, False, StepState.NOT_RECORDED, "not readable"),
        (None, True, StepState.NOT_RECORDED, "pruned"),
        (MailboxRecord("mark_read", "pending", 0, None, None), True, StepState.WAITING, "“mark as read” is due."),
        (
            MailboxRecord("mark_read", "pending", 2, "NO [CANNOT] read-only", None),
            True,
            StepState.WAITING,
            "2 failed so far: NO [CANNOT] read-only",
        ),
        (MailboxRecord("delete", "abandoned", 5, "NO quota", None), True, StepState.FAILED, "after 5 attempts"),
        (MailboxRecord(None, None, 0, None, None), True, StepState.SKIPPED, "left in the mailbox untouched"),
    ],
)
def test_mailbox_step(record: MailboxRecord | None, readable: bool, state: StepState, words: str) -> None:
    step = timeline(LoggedRow(AT, AT, "issue_updated"), record, readable)[2]
    assert (step.state, step.at) == (state, None)
    assert words in step.detail


def test_pending_and_reprocessed() -> None:
    _, processed, mailbox = timeline(
        LoggedRow(AT, None, "pending", reprocessed_at=AT + timedelta(hours=1), reprocessed_from="failed"),
        None,
        True,
        outcome_label,
    )
    assert (processed.state, processed.at) == (StepState.WAITING, AT + timedelta(hours=1))
    assert "it was Failed" in processed.detail
    assert mailbox.state is StepState.WAITING


def test_fetch_not_arrived_and_fetch_rejected() -> None:
    assert timeline(LoggedRow(None, AT, "failed"), None, True)[0].state is StepState.NOT_RECORDED
    failed = timeline(LoggedRow(None, AT, "failed"), None, True)[1]
    assert failed.state is StepState.FAILED
    rejected = timeline(LoggedRow(AT, AT, "rejected", fetch_rejected="larger than 25 MiB"), None, True)[0]
    assert "Refused by the fetcher: larger than 25 MiB" in rejected.detail
