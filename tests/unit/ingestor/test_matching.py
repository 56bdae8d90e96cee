"""Table-driven tests of matching: subject tags that name an issue (and near misses), the tag pattern
setting, and the issue a reply joins through In-Reply-To/References."""

from __future__ import annotations

import re

import pytest

from intake.ingestor.matching import (
    DEFAULT_TAG_PATTERN,
    MAX_REPLY_CANDIDATES,
    compile_tag_pattern,
    match_reply,
    match_subject,
    reply_candidates,
)
from intake.ingestor.parsing import parse_message

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
    ("[#abc]", None),
    ("[Issue #abc]", None),
    ("[#1234567890123456789]", 1234567890123456789),
    ("[#9223372036854775807]", 9223372036854775807),
    ("[#9223372036854775808]", None),
    ("[#99999999999999999999999999999999]", None),
    ("[#99999999999999999999999999999999] and [#7]", 7),
    ("[#٤٢]", None),
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


def test_huge_number_says_it_is_not_valid() -> None:
    assert (
        match_subject("[#99999999999999999999]").reason
        == "subject tag [#99999999999999999999] names no valid issue number"
    )


def test_default_pattern_text_compiles() -> None:
    assert match_subject("Re: Printer [ACME #42]", compile_tag_pattern(DEFAULT_TAG_PATTERN)).number == 42


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        (r"\[#(\d+)\]", "the pattern has no named group `number`"),
        (r"\[#(?P<num>\d+)\]", "the pattern has no named group `number`"),
        (r"\[#(?P<number>\d+", "not a regular expression"),
    ],
)
def test_invalid_tag_pattern(pattern: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        compile_tag_pattern(pattern)


def test_pattern_capturing_non_digits_names_no_issue() -> None:
    pattern = compile_tag_pattern(r"\[(?P<number>\w+)\]")
    assert match_subject("[abc] then [12]", pattern).number == 12
    assert match_subject("[abc]", pattern).reason == "subject tag [abc] names no valid issue number"


def reply(headers: str) -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n\r\nBody.\r\n").encode()


REPLY = parse_message(reply("From: a@x\nMessage-ID: <d@x>\nIn-Reply-To: <c@x>\nReferences: <a@x> <b@x>\n <c@x>"))

REPLY_CASES = [
    # stored on issues, thread roots, expected issue, expected reason
    ({"<c@x>": 5}, {}, 5, "In-Reply-To names <c@x>, which is on issue #5"),
    ({"<c@x>": 5, "<a@x>": 9}, {}, 5, "In-Reply-To names <c@x>, which is on issue #5"),
    ({"<b@x>": 6, "<a@x>": 9}, {}, 6, "References names <b@x>, which is on issue #6"),
    ({}, {"<a@x>": 9}, 9, "References names <a@x>, whose thread is on issue #9"),
    ({"<a@x>": 9}, {"<b@x>": 4}, 4, "References names <b@x>, whose thread is on issue #4"),
    ({}, {"<d@x>": 3}, 3, "a reply to this message (<d@x>) is already on issue #3"),
    ({"<b@x>": 6}, {"<d@x>": 3}, 6, "References names <b@x>, which is on issue #6"),
    # near misses: its own Message-ID stored on an issue is a duplicate, not a reply; unknown IDs match nothing
    ({"<d@x>": 3}, {}, None, None),
    ({"<z@x>": 3}, {"<y@x>": 2}, None, None),
    ({}, {}, None, None),
]


@pytest.mark.parametrize(("on_issues", "roots", "number", "reason"), REPLY_CASES)
def test_match_reply(on_issues: dict[str, int], roots: dict[str, int], number: int | None, reason: str | None) -> None:
    found = match_reply(REPLY, on_issues, roots)
    assert (found.number if found else None, found.reason if found else None) == (number, reason)


def test_reply_candidates_nearest_first_without_repeats() -> None:
    assert reply_candidates(REPLY) == ("<c@x>", "<b@x>", "<a@x>", "<d@x>")
    message = parse_message(reply("Message-ID: <m@x>\nIn-Reply-To: <p@x>\nReferences: <p@x> <m@x>"))
    assert reply_candidates(message) == ("<p@x>", "<m@x>")


def test_reply_candidates_of_a_new_message_and_of_one_without_ids() -> None:
    assert reply_candidates(parse_message(reply("Message-ID: <new@x>"))) == ("<new@x>",)
    assert reply_candidates(parse_message(reply("From: a@x"))) == ()


def test_a_hostile_references_list_is_cut() -> None:
    ids = " ".join(f"<r{i}@x>" for i in range(5000))
    message = parse_message(reply(f"Message-ID: <m@x>\nReferences: {ids}"))
    candidates = reply_candidates(message)
    assert len(candidates) == MAX_REPLY_CANDIDATES + 1
    assert candidates[0] == "<r4999@x>"
