"""Reading aioimaplib's response lines and writing IMAP arguments."""

from __future__ import annotations

import doctest

import pytest

from intake.shared import imap_responses
from intake.shared.imap_responses import (
    encode_mailbox,
    parse_bodies,
    parse_body,
    parse_search,
    parse_sizes,
    parse_uidnext,
    parse_uidvalidity,
    uid_set,
)

# As aioimaplib 2.0.3 returned them from Dovecot 2.3 (untagged lines without "* ", tagged text last).
SELECT = [
    b"FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
    b"2 EXISTS",
    b"OK [UIDVALIDITY 1795487220] UIDs valid",
    b"OK [UIDNEXT 3] Predicted next UID",
    b"[READ-WRITE] Select completed (0.001 + 0.000 secs).",
]


def test_docstring_examples() -> None:
    assert doctest.testmod(imap_responses).failed == 0


def test_select() -> None:
    assert (parse_uidvalidity(SELECT), parse_uidnext(SELECT)) == (1795487220, 3)
    assert (parse_uidvalidity(SELECT[-1:]), parse_uidnext(SELECT[-1:])) == (None, None)


@pytest.mark.parametrize(
    ("lines", "uids"),
    [
        ([b"1 2 30", b"Search completed."], [1, 2, 30]),
        ([b"", b"Search completed."], []),
        ([b"Search completed."], []),
        ([b"4", b"3 EXISTS", b"Search completed."], [4]),  # other untagged lines are not UIDs
    ],
)
def test_parse_search(lines: list[bytes], uids: list[int]) -> None:
    assert parse_search(lines) == uids


def test_parse_sizes_skips_unsolicited_fetches() -> None:
    lines = [b"1 FETCH (UID 1 RFC822.SIZE 43)", b"5 FETCH (FLAGS (\\Seen))", b"2 FETCH (RFC822.SIZE 24 UID 9)", b"done"]
    assert parse_sizes(lines) == {1: 43, 9: 24}


@pytest.mark.parametrize(
    ("lines", "uid", "body"),
    [
        ([b"1 FETCH (UID 5 BODY[] {4}", bytearray(b"a\r\nb"), b")", b"Fetch completed."], 5, b"a\r\nb"),
        ([b"1 FETCH (BODY[] {2}", bytearray(b"hi"), b" UID 5)", b"Fetch completed."], 5, b"hi"),
        ([b"1 FETCH (UID 6 BODY[] {2}", bytearray(b"hi"), b")", b"Fetch completed."], 5, None),
        ([b"2 FETCH (FLAGS (\\Seen))", b"1 FETCH (UID 5 BODY[] {0}", bytearray(), b")", b"done"], 5, b""),
        ([b"Fetch completed."], 5, None),
        ([b"1 FETCH (UID 5 BODY[] {9}", bytearray(b"short"), b")", b"done"], 5, None),  # length mismatch
    ],
)
def test_parse_body(lines: list[bytes | bytearray], uid: int, body: bytes | None) -> None:
    assert parse_body(lines, uid) == body


def test_parse_bodies_reads_a_batch_in_one_pass() -> None:
    lines: list[bytes | bytearray] = [
        b"1 FETCH (UID 5 BODY[] {4}",
        bytearray(b"a\r\nb"),
        b")",
        b"2 FETCH (FLAGS (\\Seen))",  # pushed by the server: no literal
        b"3 FETCH (BODY[] {2}",
        bytearray(b"hi"),
        b" UID 9)",
        b"4 FETCH (UID 12 BODY[] {9}",  # length mismatch: not a usable body
        bytearray(b"short"),
        b")",
        b"5 FETCH (UID 14 BODY[] {0}",
        bytearray(),
        b")",
        b"Fetch completed.",
    ]
    assert parse_bodies(lines) == {5: b"a\r\nb", 9: b"hi", 14: b""}
    assert parse_bodies(lines, "HEADER") == {}


@pytest.mark.parametrize(
    ("uids", "expected"), [([1], "1"), ([3, 2, 1], "1:3"), ([1, 3, 5, 6, 7, 9], "1,3,5:7,9"), ([4, 4], "4")]
)
def test_uid_set(uids: list[int], expected: str) -> None:
    assert uid_set(uids) == expected


def test_uid_set_refuses_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        uid_set([])


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("INBOX", "INBOX"),
        ("Support & Sales", "Support &- Sales"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("台北", "&U,BTFw-"),  # RFC 3501 §5.1.3 example
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ],
)
def test_encode_mailbox(name: str, encoded: str) -> None:
    assert encode_mailbox(name) == encoded
