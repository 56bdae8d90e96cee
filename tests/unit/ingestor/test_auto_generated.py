"""Table-driven tests of auto_generated.auto_generated: each header that marks machine mail, and near misses."""

from __future__ import annotations

import pytest

from intake.ingestor.auto_generated import auto_generated
from intake.ingestor.parsing import parse_message


def mail(*headers: str, content_type: str = "text/plain") -> bytes:
    lines = ["From: someone@example.com", "Subject: hello", *headers]
    if content_type.startswith("multipart/"):
        lines.append(f"Content-Type: {content_type}; boundary=b")
        return ("\r\n".join(lines) + "\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nReport.\r\n--b--\r\n").encode()
    lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\nHello.\r\n").encode()


CASES = [
    # raw message, header expected to be named (None: written by a person)
    (mail("Auto-Submitted: auto-replied"), "Auto-Submitted"),
    (mail("Auto-Submitted: auto-generated"), "Auto-Submitted"),
    (mail("Auto-Submitted: auto-notified"), "Auto-Submitted"),
    (mail('Auto-Submitted: Auto-Replied; owner-email="me@example.com"'), "Auto-Submitted"),
    (mail("Auto-Submitted: x-vendor-robot"), "Auto-Submitted"),
    (mail("Precedence: bulk"), "Precedence"),
    (mail("Precedence: JUNK"), "Precedence"),
    (mail("Precedence: list"), "Precedence"),
    (mail("X-Autoreply: yes"), "X-Autoreply"),
    (mail("X-Autorespond: Out of office"), "X-Autorespond"),
    (mail("Return-Path: <>"), "Return-Path"),
    (mail("Return-Path: < >"), "Return-Path"),
    (mail(content_type="multipart/report"), "Content-Type"),
    (mail("Auto-Submitted: no", "Precedence: bulk"), "Precedence"),
    # near misses
    (mail("Auto-Submitted: no"), None),
    (mail("Auto-Submitted: No"), None),
    (mail('Auto-Submitted: no; comment="a person wrote this"'), None),
    (mail("Auto-Submitted:"), None),
    (mail("Precedence: first-class"), None),
    (mail("Precedence: bulkier"), None),
    (mail("X-Autoreply: no"), None),
    (mail("X-Autorespond: false"), None),
    (mail("Return-Path: <bounces@example.com>"), None),
    (mail("X-Auto-Response-Suppress: All"), None),
    (mail("Subject-Note: Auto-Submitted: auto-replied"), None),
    (mail(content_type="multipart/mixed"), None),
    (mail(), None),
]


@pytest.mark.parametrize(("raw", "header"), CASES)
def test_auto_generated(raw: bytes, header: str | None) -> None:
    found = auto_generated(parse_message(raw))
    assert (found.header if found else None) == header


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (mail("Auto-Submitted: auto-replied"), "auto-generated mail (Auto-Submitted: auto-replied)"),
        (mail("Precedence: bulk"), "auto-generated mail (Precedence: bulk)"),
        (mail("Return-Path: <>"), "auto-generated mail (Return-Path: <>)"),
        (
            mail(content_type="multipart/report"),
            "auto-generated mail (Content-Type: multipart/report, a delivery report)",
        ),
    ],
)
def test_reason_names_the_header_and_its_value(raw: bytes, reason: str) -> None:
    found = auto_generated(parse_message(raw))
    assert found is not None
    assert found.reason == reason
