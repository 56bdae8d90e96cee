"""The sample messages of `make send-sample` (deploy/local/sample_mail.py) are what they claim to be."""

from __future__ import annotations

import datetime
import email
import email.policy
import re

from deploy.local.sample_mail import (
    auto_reply,
    html_non_ascii,
    invoice_pdf,
    new_request,
    tagged_reply,
    with_attachment,
)

NOW = datetime.datetime(2026, 12, 6, 9, 30, tzinfo=datetime.UTC)


def parsed(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_reply_is_tagged_and_threaded_on_the_request() -> None:
    request = new_request(NOW)
    reply = parsed(tagged_reply(request, 42, NOW).raw)
    assert reply["Subject"].endswith("[#42]")
    assert reply["In-Reply-To"] == request.message_id
    untagged = parsed(tagged_reply(request, None, NOW).raw)
    assert "[#" not in untagged["Subject"]
    assert untagged["References"] == request.message_id


def test_every_sample_has_its_own_message_id() -> None:
    samples = [new_request(NOW), with_attachment(NOW), auto_reply(NOW), html_non_ascii(NOW)]
    assert len({sample.message_id for sample in samples}) == len(samples)
    for sample in samples:
        assert parsed(sample.raw)["Message-ID"] == sample.message_id


def test_auto_reply_says_so_per_rfc_3834() -> None:
    assert parsed(auto_reply(NOW).raw)["Auto-Submitted"] == "auto-replied"


def test_html_sample_keeps_its_non_ascii_subject_and_sender_and_both_parts() -> None:
    message = parsed(html_non_ascii(NOW).raw)
    assert message["Subject"] == "Zahlung für Bestellung Nr. 4711 fehlgeschlagen – bitte prüfen"
    assert message["From"].addresses[0].display_name == "Zoë Müller"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_attachment_is_the_invoice_pdf_byte_for_byte() -> None:
    (part,) = parsed(with_attachment(NOW).raw).iter_attachments()
    assert part.get_filename() == "INV-2026-0114.pdf"
    assert part.get_content() == invoice_pdf("INV-2026-0114", "EUR 1,836.00")


def test_invoice_pdf_cross_reference_table_points_at_each_object() -> None:
    pdf = invoice_pdf("INV-1", "EUR 1.00")
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref\n0 6\n")
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n ", pdf)]
    assert [pdf[offset:].split(b" ", 1)[0] for offset in offsets] == [b"1", b"2", b"3", b"4", b"5"]
    assert all(pdf[offset:].startswith(b"%d 0 obj" % n) for n, offset in enumerate(offsets, start=1))
