"""Test email built with the standard library: a subject, a Message-ID, a thread, headers and attachments."""

from __future__ import annotations

from email.message import EmailMessage


def make_mail(
    subject: str,
    message_id: str | None,
    *,
    sender: str = "Alice Example <alice@example.com>",
    references: tuple[str, ...] = (),
    body: str = "Hello.",
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A message from `sender` to support@example.org; `references` oldest first, the last one also
    its In-Reply-To; each attachment as (filename, content type, bytes)."""
    mail = EmailMessage()
    mail["From"] = sender
    for name, value in headers:
        mail[name] = value
    mail["To"] = "support@example.org"
    mail["Subject"] = subject
    if message_id is not None:
        mail["Message-ID"] = message_id
    if references:
        mail["In-Reply-To"] = references[-1]
        mail["References"] = " ".join(references)
    mail.set_content(body)
    for filename, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        mail.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes()
