"""tnef: the files inside a winmail.dat, and None for what is not TNEF or is damaged."""

from __future__ import annotations

from intake.ingestor.tnef import TnefFile, is_tnef, read_tnef
from tests.support.tnef import winmail_dat


def test_files_inside_are_read_byte_identical() -> None:
    pdf = b"%PDF-1.4\n\x00\xff binary"
    contents = read_tnef(winmail_dat([("report.pdf", pdf), ("Übersicht.txt", b"hello")]))
    assert contents is not None
    assert contents.files == (TnefFile("report.pdf", pdf), TnefFile("Übersicht.txt", b"hello"))


def test_signature_decides_what_is_tnef() -> None:
    assert is_tnef(winmail_dat([]))
    assert not is_tnef(b"\x89PNG\r\n\x1a\n")
    assert not is_tnef(b"")


def test_damaged_stream_gives_no_files() -> None:
    damaged = winmail_dat([("report.pdf", b"%PDF-1.4" * 100)])[:40]
    contents = read_tnef(damaged)
    assert contents is None or contents.files == ()


def test_not_tnef_at_all_is_none() -> None:
    assert read_tnef(b"\x89PNG\r\n\x1a\n") is None
