"""parsing.parse_message on small hand-written messages: bodies, attachments, encodings, broken input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from intake.ingestor.errors import Unreadable
from intake.ingestor.message_headers import Address
from intake.ingestor.parsing import ParsedMessage, parse_message, parse_message_fully
from tests.support.corpus import SKIP_REASON, corpus_dir, corpus_messages

CORPUS = corpus_messages()
CORPUS_ROOT = corpus_dir() or Path()

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n\x00\xff\xfe"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake"


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


PLAIN = crlf(
    """From: Alice Example <alice@example.com>
To: support@example.org, Bob <bob@example.org>
Cc: carol@example.net
Subject: Printer on fire
Date: Tue, 01 Oct 2024 10:00:00 +0200
Message-ID: <root-1@example.com>
In-Reply-To: <parent@example.com>
References: <root-0@example.com>
 <parent@example.com>
Content-Type: text/plain; charset=utf-8

The printer is on fire.
Please help.
"""
)


def test_plain_message() -> None:
    message = parse_message(PLAIN)
    assert message.message_id == "<root-1@example.com>"
    assert message.in_reply_to == "<parent@example.com>"
    assert message.references == ("<root-0@example.com>", "<parent@example.com>")
    assert message.subject == "Printer on fire"
    assert message.sender == Address("alice@example.com", "Alice Example")
    assert message.to == ("support@example.org", "bob@example.org")
    assert message.cc == ("carol@example.net",)
    assert message.date == datetime(2024, 10, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert message.body_text == "The printer is on fire.\r\nPlease help."
    assert message.body_html is None
    assert message.attachments == ()


def test_plain_message_has_no_decision_headers() -> None:
    message = parse_message(PLAIN)
    assert message.content_type == "text/plain"
    assert message.headers == {}
    assert message.header("Auto-Submitted") is None


def test_decision_headers_and_top_level_content_type() -> None:
    message = parse_message(
        crlf(
            """From: MAILER-DAEMON@example.org
Return-Path: <>
Auto-Submitted: auto-replied
Precedence:
 bulk
X-Autoreply: yes
X-Autorespond: =?utf-8?q?Abwesenheitsnotiz_f=C3=BCr_Alice?=
X-Auto-Response-Suppress: All
List-Id: Support <support.example.org>
X-Failed-Recipients: gone@example.com
Subject: Undelivered Mail
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

The message could not be delivered.
--b--
"""
        )
    )
    assert message.content_type == "multipart/report"
    assert message.headers == {
        "auto-submitted": "auto-replied",
        "precedence": "bulk",
        "x-autoreply": "yes",
        "x-autorespond": "Abwesenheitsnotiz für Alice",
        "x-auto-response-suppress": "All",
        "return-path": "<>",
        "list-id": "Support <support.example.org>",
        "x-failed-recipients": "gone@example.com",
    }
    assert message.header("AUTO-SUBMITTED") == "auto-replied"
    assert message.body_text == "The message could not be delivered."


def test_html_only_message_gets_text_from_html() -> None:
    message = parse_message(
        crlf(
            """From: alice@example.com
Subject: HTML
Content-Type: text/html; charset=utf-8

<html><head><style>p { color: red }</style></head><body><p>Hello&nbsp;there</p>
<script>alert(1)</script><div>Line one<br>Line two</div></body></html>
"""
        )
    )
    assert message.body_text == "Hello there\n\nLine one\nLine two"
    assert message.body_html is not None
    assert "<p>Hello&nbsp;there</p>" in message.body_html


def _b64(content: bytes) -> str:
    return base64.encodebytes(content).decode()


def test_attachment_is_kept_byte_identical() -> None:
    message = parse_message(
        crlf(
            f"""From: alice@example.com
Subject: Invoice
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8

See attached.
--b2
Content-Type: text/html; charset=utf-8

<p>See attached.</p>
--b2--
--b1
Content-Type: application/pdf; name="invoice.pdf"
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

{_b64(PDF)}
--b1--
"""
        )
    )
    assert message.body_text == "See attached."
    assert message.body_html == "<p>See attached.</p>"
    [attachment] = message.attachments
    assert attachment.filename == "invoice.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.content == PDF
    assert not attachment.inline
    assert attachment.content_id is None


def test_inline_cid_image() -> None:
    message = parse_message(
        crlf(
            f"""From: alice@example.com
Subject: Screenshot
Content-Type: multipart/related; boundary="r"

--r
Content-Type: text/html; charset=utf-8

<p>Look: <img src="cid:shot@example.com"></p>
--r
Content-Type: image/png
Content-ID: <shot@example.com>
Content-Transfer-Encoding: base64

{_b64(PNG)}
--r--
"""
        )
    )
    assert message.body_text == "Look:"
    [image] = message.attachments
    assert image.inline
    assert image.content_id == "shot@example.com"
    assert image.content == PNG
    assert image.filename == "attachment-1.png"


def test_rfc2047_subject_and_names() -> None:
    message = parse_message(
        crlf(
            """From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>
Subject: =?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?= [#7]
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe
"""
        )
    )
    assert message.subject == "Grüße aus Köln [#7]"
    assert message.sender == Address("joerg@example.de", "Jörg Müller")
    assert message.body_text == "Grüße"


def test_unknown_charset_reads_as_utf8_with_replacements() -> None:
    message = parse_message(
        b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
        + "Grüße ".encode()
        + b"\xff\r\n"
    )
    assert message.body_text == "Grüße \ufffd"


def test_raw_8bit_headers_are_read_as_utf8() -> None:
    message = parse_message("From: Jörg <j@example.de>\r\nSubject: Grüße\r\n\r\nhi\r\n".encode())
    assert message.subject == "Grüße"
    assert message.sender == Address("j@example.de", "Jörg")


def test_nested_message_becomes_eml() -> None:
    nested = "From: bob@example.org\nSubject: Original problem\n\nIt broke.\n"
    message = parse_message(
        crlf(
            f"""From: alice@example.com
Subject: Fwd: Original problem
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain

Forwarding.
--m
Content-Type: message/rfc822

{nested}
--m--
"""
        )
    )
    assert message.body_text == "Forwarding."
    [eml] = message.attachments
    assert eml.filename == "Original problem.eml"
    assert eml.content_type == "message/rfc822"
    assert b"Subject: Original problem" in eml.content
    assert b"It broke." in eml.content


def test_hostile_headers_do_not_crash() -> None:
    message = parse_message(
        b'From: alice@example.com\r\nTo: "\r\nSubject: ok\r\nDate: not a date\r\n'
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=bogus''%ff%fe../x\r\n\r\nabc\r\n--z--\r\n"
    )
    assert message.subject == "ok"
    assert message.date is None
    assert message.to == ()
    [attachment] = message.attachments
    assert "/" not in attachment.filename
    assert attachment.content == b"abc"


def test_message_without_message_id_or_date() -> None:
    message = parse_message(b"From: a@example.com\r\n\r\nbody\r\n")
    assert message.message_id is None
    assert message.references == ()
    assert message.date is None
    assert message.subject == ""


def test_date_without_zone_is_utc() -> None:
    message = parse_message(b"From: a@example.com\r\nDate: Tue, 01 Oct 2024 10:00:00 -0000\r\n\r\nx\r\n")
    assert message.date == datetime(2024, 10, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "the message is empty"),
        (b"  \r\n\r\n", "the message is empty"),
        (
            b"\x00\xff\x89garbage that is not mail\xfe",
            "the message has no header fields, so it is not an email message",
        ),
    ],
)
def test_unreadable(raw: bytes, reason: str) -> None:
    with pytest.raises(Unreadable) as caught:
        parse_message(raw)
    assert caught.value.reason == reason


def test_files_inside_winmail_dat_replace_it() -> None:
    from tests.support.tnef import winmail_dat

    pdf = b"%PDF-1.4\n\x00\xff"
    message = parse_message(
        crlf(
            f"""From: outlook@example.com
Subject: Rich text
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

See attached.
--b
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Disposition: attachment; filename="winmail.dat"
Content-Transfer-Encoding: base64

{_b64(winmail_dat([("report.pdf", pdf), ("../notes.txt", b"hello")]))}
--b--
"""
        )
    )
    assert [(a.filename, a.content) for a in message.attachments] == [("report.pdf", pdf), ("notes.txt", b"hello")]


def test_damaged_winmail_dat_is_kept_as_it_is() -> None:
    from tests.support.tnef import winmail_dat

    damaged = winmail_dat([("report.pdf", b"%PDF" * 50)])[:40]
    message = parse_message(
        crlf(
            f"""From: outlook@example.com
Subject: Rich text
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

See attached.
--b
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Transfer-Encoding: base64

{_b64(damaged)}
--b--
"""
        )
    )
    assert [(a.filename, a.content) for a in message.attachments] == [("winmail.dat", damaged)]


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        ("attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf", "Rechnung März.pdf"),
        ("attachment; filename*0*=UTF-8''Sehr%20lange%20;\n filename*1*=Datei%C3%BC.pdf", "Sehr lange Dateiü.pdf"),
        ('attachment; filename="=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?="', "Rechnung März.pdf"),
        ("attachment; filename*=x-unknown''%FF%FE.pdf", "��.pdf"),
        ("attachment; filename*=UTF-8''", "attachment-1.pdf"),
        ('attachment; filename="..\\\\..\\\\evil\x01.pdf"', "evil.pdf"),
        ("attachment", "attachment-1.pdf"),
    ],
)
def test_attachment_filenames(disposition: str, filename: str) -> None:
    message = parse_message(
        crlf(
            f"""From: alice@example.com
Subject: Names
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

Body.
--b
Content-Type: application/pdf
Content-Disposition: {disposition}
Content-Transfer-Encoding: base64

{_b64(PDF)}
--b--
"""
        )
    )
    assert [a.filename for a in message.attachments] == [filename]
    assert message.attachments[0].content == PDF


def test_obsolete_space_before_colon() -> None:
    message = parse_message(
        crlf(
            """From  : John Doe <jdoe@example.com>
To    : Mary Smith <mary@example.net>
Subject     : Saying Hello
Date  : Fri, 21 Nov 1997 09:55:06 -0600

This is a message just to say hello.
"""
        )
    )
    assert message.sender == Address("jdoe@example.com", "John Doe")
    assert message.to == ("mary@example.net",)
    assert message.subject == "Saying Hello"
    assert message.date is not None
    assert message.body_text == "This is a message just to say hello."


# The common (compat32) path and the full (policy.default) path


@pytest.mark.parametrize(
    "header",
    [
        "From: alice@example.com",
        "From: Alice Example <alice@example.com>",
        "From: Alice  Example <alice@example.com>",
        'From: "Example, Alice" <alice@example.com>',
        "From: alice@example.com (Alice)",
        "From: Big Bug bb@bug.com",
        "From: a@example.com b@example.com",
        "From: Mikel@Lindsaar <raasdnil@gmail.com>",
        "From: John Q. Public <john@example.com>",
        "From: undisclosed-recipients:;",
        "From: <>",
        "From: alice",
        "From: alice@example.com, , bob@example.com",
        "From: =?utf-8?q?Alice_=C3=84rger?= <alice@example.com>",
        'From: "',
        "Subject: \t  spaced   out\t ",
        "Subject: folded\r\n  over\r\n\tlines",
        "Date: Fri, 21 Nov 1997 09:55:06",
        "Date: not a date",
        'Content-Type: text/plain; charset="us-ascii"; format=flowed',
        "Content-Type: text/plain; charset=unknown-8bit",
        "Content-Type: multipart/mixed; boundary=----=_Part_1",
        "Content-Type: text/plain; name=This is a test.txt",
        "Content-Disposition: attachment; filename*=x-unknown''%41.txt",
        # The forms the common path reads itself since issue 13 (plain_headers), and their near misses.
        "Subject: =?utf-8?b?R3LDvMOfZQ==?= =?utf-8?q?_aus_K=C3=B6ln?= [#7]",
        "Subject: Re:=?utf-8?q?J=C3=BCrgen?=",
        "Subject: =?utf-8?q?J=C3=BCrgen?=stuck",
        "Subject: =?x-unknown?q?abc?=",
        "Subject: =?utf-8*de?q?abc?=",
        "Subject: =?utf-8?b?R3LDvMOfZQ?=",
        "Subject: =?utf-8?q?50=_off?=",
        "Subject: =?utf-8?q?a b?=",
        "Subject: =?iso-8859-1?q?K=F6ln?=\r\n =?windows-1252?q?=80?=",
        "Subject: =?utf-8?q?=FF?=",
        "Subject: Grüße in UTF-8",
        "X-Autorespond: =?utf-8?q?Abwesenheitsnotiz_f=C3=BCr_Alice?=",
        "From: =?utf-8?q?J=C3=BCrgen?= =?utf-8?q?_M=C3=BCller?= <j@example.de>",
        "From: Herr =?utf-8?q?J=C3=BCrgen?= <j@example.de>",
        'From: "=?utf-8?q?J=C3=BCrgen?=" <j@example.de>',
        'From: "Müller, Jürgen" <j@example.de>',
        'From: "Meyer, Anna" <anna@example.com>, "Brown, Ben" <ben@example.com>',
        'From: "Meyer \\"A\\"" <anna@example.com>',
        "Message-ID: =?utf-8?q?<a@b>?=",
        "Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf",
        "Content-Disposition: attachment; filename*=UTF-8'de'%C3%BC.pdf",
        "Content-Disposition: attachment; filename*=iso-8859-1''%FC.pdf",
        "Content-Disposition: attachment; filename*=utf-8''%FF.pdf",
        "Content-Disposition: attachment; filename*0*=utf-8''a; filename*1*=b.pdf",
        'Content-Type: application/pdf; name="=?utf-8?B?UmVjaG51bmcgTcOkcnoucGRm?="',
    ],
)
def test_both_paths_agree(header: str) -> None:
    raw = f"{header}\r\nTo: support@example.org\r\nMessage-ID: <p-1@example.com>\r\n\r\nBody.\r\n".encode()
    assert parse_message(raw) == parse_message_fully(raw)


def test_plain_mail_takes_the_common_path() -> None:
    from intake.ingestor import parsing

    assert parsing._parse_common(PLAIN) == parse_message_fully(PLAIN)


@pytest.mark.parametrize(
    "header",
    [
        "Subject: =?utf-8?b?R3LDvMOfZQ==?= =?utf-8?q?_aus_K=C3=B6ln?= [#7]",
        "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@example.de>",
        'From: "Meyer, Anna" <anna@example.com>',
        "Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf",
    ],
)
def test_encoded_words_and_rfc2231_names_take_the_common_path(header: str) -> None:
    """What a third of real mail has (issue 13) no longer needs the full parser."""
    from intake.ingestor import parsing

    raw = f"{header}\r\nTo: support@example.org\r\nMessage-ID: <p-1@example.com>\r\n\r\nGrüße.\r\n".encode()
    common = parsing._parse_common(raw)
    assert common is not None
    assert common == parse_message_fully(raw)


@pytest.mark.skipif(not CORPUS, reason=SKIP_REASON)
@pytest.mark.parametrize("path", CORPUS, ids=lambda path: str(path.relative_to(CORPUS_ROOT)))
def test_corpus_message_parses_the_same_on_both_paths(path: Path) -> None:
    """Every real-world message gives a value or `Unreadable`, never another exception; the common
    path gives exactly what `policy.default` gives."""
    raw = path.read_bytes()
    try:
        full: ParsedMessage | str = parse_message_fully(raw)
    except Unreadable as error:
        full = error.reason
    try:
        common: ParsedMessage | str = parse_message(raw)
    except Unreadable as error:
        common = error.reason
    assert common == full
