"""Which email log rows may be reprocessed, and why the others may not."""

from __future__ import annotations

import doctest

import pytest

from intake.config_api import email_log_rules
from intake.config_api.email_log_rules import REPROCESSABLE, RawState, raw_state, reprocess_refusal
from intake.config_api.email_log_schemas import LogOutcome


def test_docstring_examples() -> None:
    result = doctest.testmod(email_log_rules)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("outcome", sorted(REPROCESSABLE))
def test_failed_rejected_and_skipped_may_be_reprocessed(outcome: str) -> None:
    assert reprocess_refusal(outcome, None, RawState.COMPLETE, None) is None


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        ("pending", "still pending"),
        ("issue_created", "already on issue #3"),
        ("issue_updated", "already on issue #3"),
        ("duplicate", "duplicates"),
    ],
)
def test_other_outcomes_are_refused_with_a_reason(outcome: str, words: str) -> None:
    refusal = reprocess_refusal(outcome, 3, RawState.COMPLETE, None)
    assert refusal is not None
    assert words in refusal


@pytest.mark.parametrize("outcome", [o.value for o in LogOutcome])
@pytest.mark.parametrize("issue_number", [3, None])
def test_refusals_name_no_raw_outcome(outcome: str, issue_number: int | None) -> None:
    # People read the reason (console detail page, the API's 409): "issue_created" is not a word.
    refusal = reprocess_refusal(outcome, issue_number, RawState.COMPLETE, None) or ""
    assert not any(o.value in refusal for o in LogOutcome if "_" in o.value), refusal


def test_every_outcome_is_decided() -> None:
    decided = {o.value for o in LogOutcome if reprocess_refusal(o.value, 1, RawState.COMPLETE, None) is None}
    assert decided == REPROCESSABLE


def test_a_message_without_its_bytes_is_refused() -> None:
    header_only = reprocess_refusal("rejected", None, RawState.HEADER_ONLY, "larger than 25 MiB")
    assert header_only is not None
    assert "only the header" in header_only
    assert "larger than 25 MiB" in header_only
    missing = reprocess_refusal("failed", None, RawState.MISSING, None)
    assert missing is not None
    assert "not in the blob store" in missing


def test_raw_state() -> None:
    assert raw_state(None, blob_stored=True) is RawState.COMPLETE
    assert raw_state("too large", blob_stored=True) is RawState.HEADER_ONLY
    assert raw_state("too large", blob_stored=False) is RawState.MISSING
