"""filenames: RFC 2047 names decoded; paths, control and format characters removed; length bounded."""

from __future__ import annotations

import pytest

from intake.ingestor.filenames import MAX_FILENAME_BYTES, decode_filename, sanitise_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("bad\x00\x07name\r\n.txt", "badname.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("..", "attachment-4.bin"),
        ("", "attachment-4.bin"),
        (None, "attachment-4.bin"),
        ("  spaced.txt  ", "spaced.txt"),
        ("Cafe\u0301.txt", "Caf\u00e9.txt"),
    ],
)
def test_sanitise_filename(name: str | None, expected: str) -> None:
    assert sanitise_filename(name, 4) == expected


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/pdf", "attachment-2.pdf"),
        ("message/rfc822", "attachment-2.eml"),
        ("x/unknown", "attachment-2.bin"),
    ],
)
def test_made_up_name_keeps_an_extension_for_the_type(content_type: str, expected: str) -> None:
    assert sanitise_filename(None, 2, content_type) == expected


def test_long_filename_is_cut_to_255_bytes_keeping_the_extension() -> None:
    name = "ü" * 300 + ".pdf"
    cut = sanitise_filename(name, 1)
    assert len(cut.encode()) <= MAX_FILENAME_BYTES
    assert cut.endswith(".pdf")
    assert cut.startswith("üü")


def test_long_name_with_a_long_suffix_is_cut_without_keeping_it() -> None:
    cut = sanitise_filename("a" * 300 + "." + "b" * 40, 1)
    assert len(cut.encode()) == MAX_FILENAME_BYTES
    assert set(cut) == {"a"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?=", "Rechnung März.pdf"),
        ("=?iso-8859-1?Q?r=E9sum=E9.doc?=", "résumé.doc"),
        ("=?x-unknown?Q?broken?=", "=?x-unknown?Q?broken?="),
        ("no encoded words.txt", "no encoded words.txt"),
    ],
)
def test_decode_filename(name: str, expected: str) -> None:
    assert decode_filename(name) == expected
