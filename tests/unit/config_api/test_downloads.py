"""Content-Disposition (RFC 6266) and Content-Type for served attachments."""

from __future__ import annotations

import urllib.parse

import pytest

from intake.config_api.downloads import ascii_fallback, content_disposition, safe_content_type


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        (None, 'attachment; filename="attachment"'),
        ("", 'attachment; filename="attachment"'),
        ("  \r\n ", 'attachment; filename="attachment"'),
        ("../../etc/passwd", 'attachment; filename=".._.._etc_passwd"'),
        ("a\\b.txt", 'attachment; filename="a_b.txt"'),
        ('say "hi".txt', "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"),
        ("100%.txt", "attachment; filename=\"100_.txt\"; filename*=UTF-8''100%25.txt"),
        ("x\r\nSet-Cookie: a=b", 'attachment; filename="x  Set-Cookie: a=b"'),
    ],
)
def test_content_disposition(filename: str | None, header: str) -> None:
    assert content_disposition(filename) == header


@pytest.mark.parametrize("filename", ["Résumé.pdf", "报告.docx", "emoji 📎.png", "naïve 'quote'.txt"])
def test_non_ascii_names_survive_in_filename_star(filename: str) -> None:
    header = content_disposition(filename)
    assert header.isascii()
    assert not {"\r", "\n"} & set(header)
    extended = header.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(extended) == filename


def test_ascii_fallback_for_a_name_with_no_ascii_left() -> None:
    assert ascii_fallback("报告") == "__"
    assert ascii_fallback("é") == "e"


@pytest.mark.parametrize(
    ("stored", "served"),
    [
        ("application/pdf", "application/pdf"),
        ("text/plain; charset=iso-8859-1", "text/plain; charset=iso-8859-1"),
        ('text/plain; name="a b.txt"', 'text/plain; name="a b.txt"'),
        ("image/svg+xml", "image/svg+xml"),
        ("nonsense", "application/octet-stream"),
        ("text/html\r\nX-Injected: 1", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_safe_content_type(stored: str | None, served: str) -> None:
    assert safe_content_type(stored) == served
