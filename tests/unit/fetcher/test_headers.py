"""Header summary for `message.fetched`: cheap, decoded best-effort, never raising."""

from __future__ import annotations

import doctest

import pytest

from intake.fetcher import headers
from intake.fetcher.headers import MAX_VALUE_CHARS, HeaderSummary, header_block, summarize


def test_docstring_examples() -> None:
    assert doctest.testmod(headers).failed == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"From: A <a@example.com>\r\nSubject: Hello\r\nMessage-ID: <1@x>\r\n\r\nSubject: not a header\r\n",
            HeaderSummary("<1@x>", "A <a@example.com>", "Hello"),
        ),
        (
            b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.com>\nSubject: =?iso-8859-1?q?Caf=E9?=\n\nbody",
            HeaderSummary(None, "J\u00fcrgen <j@example.com>", "Caf\u00e9"),
        ),
        (b"Subject: folded\r\n  across lines\r\n\r\n", HeaderSummary(None, None, "folded across lines")),
        (b"Subject: =?bogus-charset?q?x?=\r\n\r\n", HeaderSummary(None, None, "=?bogus-charset?q?x?=")),
        (b"Subject: =?utf-8?b?!!!?=\r\n\r\n", HeaderSummary(None, None, "=?utf-8?b?!!!?=")),
        (b"Subject: raw \xc3\xa9 and \xff\r\n\r\n", HeaderSummary(None, None, "raw \u00e9 and \ufffd")),
        (b'To: "\r\nFrom: "\r\n\r\n', HeaderSummary(None, '"', None)),
        (b"", HeaderSummary(None, None, None)),
        (b"not an email at all", HeaderSummary(None, None, None)),
    ],
)
def test_summarize(raw: bytes, expected: HeaderSummary) -> None:
    assert summarize(raw) == expected


def test_long_values_are_cut() -> None:
    summary = summarize(b"Subject: " + b"x" * 5000 + b"\r\n\r\n")
    assert summary.subject == "x" * MAX_VALUE_CHARS


def test_header_block_stops_at_the_first_blank_line() -> None:
    assert header_block(b"A: 1\n\nB: 2\r\n\r\n") == b"A: 1\n\n"
    assert header_block(b"A: 1") == b"A: 1"
