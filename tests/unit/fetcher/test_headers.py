"""Header summary for `message.fetched`: cheap, decoded best-effort, never raising; the direct reading
(`plain_summary`, `decode_plain_words`) gives exactly what the stdlib reading gives, or steps aside."""

from __future__ import annotations

import doctest
import itertools
from email.parser import BytesHeaderParser
from email.policy import compat32

import pytest

from bench.realistic_mail import messages
from intake.fetcher import headers
from intake.fetcher.headers import (
    MAX_VALUE_CHARS,
    HeaderSummary,
    decode_plain_words,
    feed_parser_summary,
    plain_summary,
    summarize,
)
from intake.shared.encoded_words import NotPlain
from intake.shared.header_block import decode_words, header_block
from tests.support.corpus import SKIP_REASON, corpus_messages

CORPUS = corpus_messages()


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


def read_directly(raw: bytes | bytearray) -> bool:
    """True when `plain_summary` reads `raw` itself; fails when it reads it otherwise than the stdlib."""
    direct = plain_summary(raw)
    stdlib = feed_parser_summary(raw)
    assert summarize(raw) == stdlib
    if direct is None:
        return False
    assert direct == stdlib
    return True


@pytest.mark.skipif(not CORPUS, reason=SKIP_REASON)
def test_every_corpus_message_is_summarized_as_the_stdlib_does() -> None:
    direct = [path for path in CORPUS if read_directly(path.read_bytes())]
    assert len(direct) > len(CORPUS) * 3 / 4  # mbox `From ` lines and broken headers aside


@pytest.mark.skipif(not CORPUS, reason=SKIP_REASON)
def test_every_corpus_header_value_is_decoded_as_email_header_does() -> None:
    decoded_directly = 0
    for path in CORPUS:
        parsed = BytesHeaderParser(policy=compat32).parsebytes(header_block(path.read_bytes()))
        for _, value in parsed.raw_items():
            cleaned = headers._clean(value)
            if cleaned is None or "=?" not in cleaned:
                continue
            try:
                assert decode_plain_words(cleaned) == decode_words(cleaned)
            except NotPlain:
                continue
            decoded_directly += 1
    assert decoded_directly > 50


def test_realistic_mail_is_always_read_directly_and_as_the_stdlib_reads_it() -> None:
    for kind, count in (("small", 2000), ("medium", 50)):
        for raw in messages(kind, count):
            assert read_directly(raw)
            stdlib = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
            for name in ("From", "Subject"):
                cleaned = headers._clean(stdlib[name])
                assert cleaned is not None
                assert decode_plain_words(cleaned) == decode_words(cleaned)  # no NotPlain either


FIELDS = b"From: Anna <anna@example.com>\r\nMessage-ID: <m-1@example.com>\r\n"


@pytest.mark.parametrize(
    ("raw", "direct"),
    [
        # 8-bit headers: raw UTF-8, Latin-1, and 8-bit text beside an encoded word.
        (FIELDS + b"Subject: Gr\xc3\xbc\xc3\x9fe\r\n\r\n", True),
        (b"From: J\xfcrgen <j@example.de>\r\nSubject: caf\xe9\r\n\r\n", True),
        (b"Subject: \xd0\x9e\xd1\x88 =?utf-8?q?x?= \xe9\r\n\r\n", True),
        (b"Subject: a\xc2\xa0b\xc2\x85c\r\n\r\n", True),  # UTF-8 no-break space and NEL
        (b"Subj\xe9ct: x\r\nSubject: y\r\n\r\n", False),
        (b"Content-Type: \xff/\xfe\r\nSubject: x\r\n\r\n", True),
        # Line breaks: bare CR, LF only, mixed, a blank line the feed parser sees first.
        (b"Subject: a\rb\r\nFrom: c\r\n\r\n", False),
        (b"Subject: a\r\r\n\r\n", False),
        (FIELDS.replace(b"\r\n", b"\n") + b"Subject: x\n\nbody", True),
        (b"Subject: a\r\nFrom: b\n\nbody\r\n\r\n", True),
        (b"Subject: a\n\r\nFrom: b\r\n\r\n", True),  # the header ends at the CRLF blank line after LF
        (b"Subject: a\r\n\nFrom: b\r\n\r\n", True),
        (b"Subject: a\x0bb\x1cc\x00d\x0ce\r\n\r\n", True),
        # Folding.
        (b"Subject: =?utf-8?q?a?=\r\n =?utf-8?q?b?=\r\n\tc\r\n\r\n", True),
        (b"Subject:\r\n\tonly folded\r\nFrom:   \r\n   \r\n x\r\n\r\n", True),
        (b" starts folded\r\nSubject: y\r\n\r\n", False),
        # Missing, empty and duplicate headers.
        (b"X-Other: y\r\n\r\n", True),
        (b"Subject:\r\nFrom: \t \r\nMessage-ID: \r\n \r\n\r\n", True),
        (b"Subject: one\r\nsubject: two\r\nFROM: a\r\nFrom: b\r\nmessage-id: <1@x>\r\nMessage-Id: <2@x>\r\n\r\n", True),
        # Lines that are not header fields, and no blank line at all.
        (b"From someone@example.com Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\n", False),
        (b":no name\r\nSubject: y\r\n\r\n", False),
        (b"Subject : obsolete\r\n\r\n", False),
        (b"Subject: x\r\nnot a header\r\n\r\n", False),
        (b"Subject: x\r\n", False),
        (b"Subject: x", False),
        (b"\r\nSubject: x\r\n\r\n", False),
        (b"\r\n\r\n", False),
        (b"\n\n", False),
        # Encoded words the direct decoder does not take, or takes with email.header's joining.
        (b"Subject: =?unknown?q?x?=\r\n\r\n", True),
        (b"Subject: =?utf-8?b?!!!?=\r\n\r\n", True),
        (b"Subject: =?utf-8?b?QUI?=\r\n\r\n", True),
        (b"Subject: =?utf-8?b?w6k?= =?utf-8?b?QQ==?=\r\n\r\n", True),
        (b"Subject: =?utf-8?q?=C3?= =?utf-8?q?=A9?=\r\n\r\n", True),  # one character over two words
        (b"Subject: =?windows-1252?q?=81?=\r\n\r\n", True),
        (b"Subject: =?utf-8*en?q?x?=\r\n\r\n", True),
        (b"Subject: =?utf-8?q?a b?=\r\n\r\n", True),
        (b"Subject: =?utf-8?q?50=_off?=\r\n\r\n", True),
        (b"Subject: Re:=?utf-8?q?J=C3=BCrgen?=stuck\r\n\r\n", True),
        (b"Subject: =?utf-8?q??=\r\nFrom: =?utf-8?q?_?=\r\n\r\n", True),
        (b"Subject: =?us-ascii?q?a?= b =?us-ascii?q?c?= =?utf-8?q?d?=\r\n\r\n", True),
        (b'From: (=?utf-8?q?x?=) "=?utf-8?q?y?=" ( =?iso-8859-1?q?z?= ) <a@b>\r\n\r\n', True),
        (b"Message-ID: =?utf-8?q?<a@b>?=\r\n\r\n", True),
        # Very long values, before and after decoding.
        (b"Subject: " + b"x" * 5000 + b"\r\n\r\n", True),
        (b"Subject: " + b"=?utf-8?q?=C3=A9?= " * 500 + b"\r\n\r\n", True),
        (b"From: " + b"a " * 600 + b"=?utf-8?b?w6k=?=" + b" b" * 600 + b"\r\n\r\n", True),
    ],
)
def test_hostile_headers_are_summarized_as_the_stdlib_does(raw: bytes, direct: bool) -> None:
    assert read_directly(raw) is direct
    assert read_directly(bytearray(raw)) is direct


WORDS = [
    "Re:",
    "(",
    ")",
    "\\",
    "=?utf-8?q?Caf=C3=A9?=",
    "=?UTF-8?B?w6k=?=",
    "=?utf8?q?x?=",
    "=?us-ascii?q?plain?=",
    "=?iso-8859-1?Q?K=F6ln?=",
    "=?windows-1252?q?=80?=",
    "=?utf-8?q??=",
    "=?utf-8?q?_?=",
    "=?utf-8?q?a_?=",
]


def test_every_join_of_up_to_three_words_is_decoded_as_email_header_does() -> None:
    """Spaces around and between encoded words, charsets that run on or not, blank results."""
    for length in (1, 2, 3):
        for words in itertools.product(WORDS, repeat=length):
            value = " ".join(words)
            assert decode_plain_words(value) == decode_words(value), value
