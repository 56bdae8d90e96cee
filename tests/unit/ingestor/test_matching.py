"""Table-driven tests of matching.match_subject: tags that name an issue, and near misses."""

from __future__ import annotations

import re

import pytest

from intake.ingestor.matching import match_subject

CASES = [
    # subject, expected issue number
    ("[#42]", 42),
    ("[#42] Printer on fire", 42),
    ("[Issue #42]", 42),
    ("Re: Printer [ACME #42]", 42),
    ("RE: AW: Fwd: [Ticket#7] still broken", 7),
    ("[#1] first", 1),
    ("[#042] leading zero", 42),
    ("Re: [Issue #7] and [Issue #8]", 7),
    ("[#0] then [#5]", 5),
    ("Invoice #42", None),
    ("[#]", None),
    ("[# 42]", None),
    ("[#42abc]", None),
    ("[#-3]", None),
    ("[Two words #42]", None),
    ("[#42 ]", None),
    ("#42]", None),
    ("[#42", None),
    ("[[#42]]", 42),
    ("[#0]", None),
    ("[#1234567890123456789]", None),
    ("", None),
    ("Grüße [Störung #12]", 12),
]


@pytest.mark.parametrize(("subject", "number"), CASES)
def test_match_subject(subject: str, number: int | None) -> None:
    match = match_subject(subject)
    assert match.number == number
    assert match.reason


def test_reason_names_the_tag() -> None:
    match = match_subject("Re: Printer [ACME #42]")
    assert match.tag == "[ACME #42]"
    assert match.reason == "subject tag [ACME #42] names issue #42"


def test_no_tag_says_so() -> None:
    assert match_subject("Invoice #42").reason == "subject has no issue tag like [#42]"


def test_pattern_is_replaceable() -> None:
    pattern = re.compile(r"\(case (?P<number>\d+)\)")
    assert match_subject("Re: (case 9) help", pattern).number == 9
    assert match_subject("Re: [#9] help", pattern).number is None
