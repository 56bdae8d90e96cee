"""The sample messages `make send-sample` puts into the development mailbox (written for Intake).

Pure: builds raw RFC 5322 bytes and nothing else. Each message shows one thing Intake does: a new
request, a reply tagged with its issue number, an attachment, an auto-reply it skips, and an HTML
message with a non-ASCII subject and sender.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

TO = "Support <dev@example.com>"
DOMAIN = "sample.intake.test"


@dataclass(frozen=True)
class Sample:
    """One sample: what it shows (for the summary printed), its Message-ID and its raw bytes."""

    shows: str
    message_id: str
    raw: bytes


def _base(sender: str, subject: str, now: datetime.datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = TO
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=DOMAIN)
    return msg


def _sample(shows: str, msg: EmailMessage) -> Sample:
    return Sample(shows, str(msg["Message-ID"]), msg.as_bytes())


PRINTER_SUBJECT = "Printer on the 3rd floor jams on every print job"
PRINTER_BODY = """\
Hello support,

since this morning the printer next to the kitchen on the 3rd floor (asset tag PR-0317) jams
on every job, even a single page. We put in a fresh ream of paper and switched it off and on
again; the jam light comes back after a few seconds.

Twelve of us share it, so this is rather urgent.

Thanks,
Alice Martin
Facilities, building B
"""


def new_request(now: datetime.datetime) -> Sample:
    msg = _base("Alice Martin <alice.martin@example.org>", PRINTER_SUBJECT, now)
    msg.set_content(PRINTER_BODY)
    return _sample("a new request", msg)


def tagged_reply(original: Sample, issue_number: int | None, now: datetime.datetime) -> Sample:
    """Alice's follow-up: tagged `[#N]` when the issue's number is known, else threaded by In-Reply-To only."""
    tag = f" [#{issue_number}]" if issue_number is not None else ""
    msg = _base("Alice Martin <alice.martin@example.org>", f"Re: {PRINTER_SUBJECT}{tag}", now)
    msg["In-Reply-To"] = original.message_id
    msg["References"] = original.message_id
    quoted = "".join(f"> {line}\n" if line else ">\n" for line in PRINTER_BODY.splitlines())
    msg.set_content(
        "A quick update: it also jams with the paper tray empty, and the display now says\n"
        '"Error 13.A2". Photos on request.\n\nAlice\n\n'
        f"On {format_datetime(now)}, Alice Martin wrote:\n{quoted}"
    )
    shows = "a reply tagged with its issue number" if issue_number is not None else "a reply (threaded)"
    return _sample(shows, msg)


def invoice_pdf(invoice: str, total: str) -> bytes:
    """A small one-page PDF invoice, with a correct cross-reference table."""
    text = f"BT /F1 14 Tf 40 150 Td (Invoice {invoice}) Tj 0 -24 Td (Total due: {total}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def with_attachment(now: datetime.datetime) -> Sample:
    msg = _base("Bob Okafor <bob.okafor@example.net>", "Invoice INV-2026-0114 does not match our order", now)
    msg.set_content(
        "Hi,\n\nthe attached invoice charges us for 40 toner cartridges; our order PO-5521 was for 14.\n"
        "Could you send a corrected invoice? We will hold the payment until then.\n\n"
        "Best regards,\nBob Okafor\nAccounts payable, Okafor & Sons Ltd\n"
    )
    pdf = invoice_pdf("INV-2026-0114", "EUR 1,836.00")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="INV-2026-0114.pdf")
    return _sample("an attachment (a PDF invoice)", msg)


def auto_reply(now: datetime.datetime) -> Sample:
    msg = _base("Carol Nguyen <carol.nguyen@example.org>", "Automatic reply: VPN drops every hour", now)
    # RFC 3834: an automatic response says so; Intake logs it and files no issue.
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Autoreply"] = "yes"
    msg.set_content(
        "Thank you for your message. I am out of the office until Monday 14 December with no access\n"
        "to email. For anything urgent please write to it-helpdesk@example.org.\n\nCarol Nguyen\n"
    )
    return _sample("an auto-reply (logged, no issue)", msg)


def html_non_ascii(now: datetime.datetime) -> Sample:
    msg = _base(
        "Zoë Müller <zoe.mueller@example.de>", "Zahlung für Bestellung Nr. 4711 fehlgeschlagen – bitte prüfen", now
    )
    msg.set_content(
        "Guten Tag,\n\nmeine Kartenzahlung für Bestellung Nr. 4711 (3 × Dockingstation, 417,50 €) wurde\n"
        "abgelehnt, obwohl der Betrag von meinem Konto abgebucht ist.\n\n"
        "- Bestelldatum: 2. Dezember\n- Zahlungsart: Kreditkarte\n\n"
        "Können Sie das prüfen?\n\nMit freundlichen Grüßen\nZoë Müller\n"
    )
    msg.add_alternative(
        "<html><body><p>Guten Tag,</p>"
        "<p>meine Kartenzahlung für <strong>Bestellung Nr. 4711</strong> (3 × Dockingstation, 417,50&nbsp;€) "
        "wurde abgelehnt, obwohl der Betrag von meinem Konto abgebucht ist.</p>"
        "<ul><li>Bestelldatum: 2. Dezember</li><li>Zahlungsart: Kreditkarte</li></ul>"
        "<p>Können Sie das prüfen?</p><p>Mit freundlichen Grüßen<br>Zoë Müller</p></body></html>",
        subtype="html",
    )
    return _sample("an HTML message with a non-ASCII subject and sender", msg)
