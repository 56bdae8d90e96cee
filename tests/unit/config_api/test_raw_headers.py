"""Header fields of raw messages for the email log detail: order, unfolding, decoding, hostile input."""

from __future__ import annotations

import doctest

from intake.config_api import raw_headers
from intake.config_api.raw_headers import MAX_FIELDS, MAX_HEADER_BYTES, HeaderField, header_fields


def test_docstring_examples() -> None:
    result = doctest.testmod(raw_headers)
    assert result.attempted > 0
    assert result.failed == 0


def test_fields_in_order_with_repeats_and_decoding() -> None:
    raw = (
        b"Received: from a\r\nReceived: from b\r\n"
        b"Subject: =?iso-8859-1?q?R=E9union?= [#42]\r\n"
        b"From: =?utf-8?b?SsO8cmdlbg==?= <j@example.com>\r\n\r\nbody: not a header\r\n"
    )
    assert header_fields(raw) == [
        HeaderField("Received", "from a"),
        HeaderField("Received", "from b"),
        HeaderField("Subject", "Réunion [#42]"),
        HeaderField("From", "Jürgen <j@example.com>"),
    ]


def test_raw_utf8_and_invalid_bytes_never_raise() -> None:
    raw = "Subject: Grüße\n".encode() + b"X-Bad: \xff\xfe\n\nbody"
    assert header_fields(raw) == [HeaderField("Subject", "Grüße"), HeaderField("X-Bad", "\ufffd\ufffd")]


def test_header_only_blob_without_empty_line() -> None:
    assert header_fields(b"From: a@example.com\r\nSubject: big") == [
        HeaderField("From", "a@example.com"),
        HeaderField("Subject", "big"),
    ]


def test_limits() -> None:
    many = b"".join(b"X-N: %d\r\n" % n for n in range(MAX_FIELDS + 10))
    assert len(header_fields(many)) == MAX_FIELDS
    huge = b"Subject: " + b"a" * (MAX_HEADER_BYTES * 2)
    assert len(header_fields(huge)[0].value) < MAX_HEADER_BYTES


def test_garbage_is_skipped() -> None:
    assert header_fields(b"\x00\x01 no colon\r\n: empty name\r\nBad Name: x\r\n") == []
