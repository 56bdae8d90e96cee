"""Hand-made test messages for the end-to-end tests (the project's own, not copied from elsewhere)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

# A minimal but valid one-page PDF, with bytes above 0x7f so a text round trip would damage it.
PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def message(
    subject: str,
    body: str,
    *,
    sender: str = "Customer <customer@example.org>",
    to: str = "support@example.test",
    attachment: tuple[str, bytes] | None = None,
    in_reply_to: str | None = None,
) -> tuple[bytes, str]:
    """A message as raw bytes, and its Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    message_id = make_msgid(domain="example.org")
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    if attachment:
        name, content = attachment
        msg.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes(), message_id
