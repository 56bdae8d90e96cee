"""A deterministic, seeded generator of the mail a support inbox really receives (issue 13).

`message(kind, index, seed)` is the raw bytes of one message; the same arguments always give the same
bytes, and `messages(kind, count, seed)` yields them lazily. Three kinds:

- `small`, the realistic mix, exact in every block of 20 consecutive indexes: 8 text/plain (40%),
  7 multipart/alternative with an HTML part (35%), 5 multipart/mixed with 1–3 small attachments
  (25%; pdf, png, jpg, docx, csv); in every block of 10, 3 subjects are RFC 2047 encoded words (30%)
  and 2 senders have a non-ASCII display name (20%); a fifth of the attachments have a non-ASCII
  file name, written as RFC 2231 (`filename*=utf-8''…`). About 3 KB on average.
- `medium`: about 60 KB, mostly attachments (a text + HTML body and 2–3 attachments).
- `large`: about 5 MB: a text + HTML body and 3 attachments of about 1.2 MB each.

Every message has three Received headers, a DKIM-Signature and an Authentication-Results header, as
mail that crossed the internet has; bodies are 7bit, quoted-printable, 8bit or base64 as real clients
write them. Each message has its own Message-ID and subject, so each one makes a new issue.
"""

from __future__ import annotations

import base64
import quopri
import random
import zlib
from collections.abc import Iterator
from email.charset import QP, Charset
from email.header import Header
from urllib.parse import quote

KINDS = ("small", "medium", "large")
DEFAULT_SEED = 13

# Per block of 20 (shapes), of 10 (subjects, names): the exact shares of the mix.
_SHAPES = ["plain"] * 8 + ["alternative"] * 7 + ["mixed"] * 5
_SUBJECT_ENCODED = [True] * 3 + [False] * 7
_NAME_NON_ASCII = [True] * 2 + [False] * 8
_NON_ASCII_FILENAME_SHARE = 0.2

_FIRST = ["Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Karen", "Liam"]
_LAST = ["Smith", "Meyer", "Brown", "Garcia", "Rossi", "Nowak", "Jensen", "Walker", "Dubois", "Kowalski"]
_FIRST_INTL = ["Jürgen", "Zoë", "José", "Françoise", "Łukasz", "Søren", "Małgorzata", "Ángel", "Björn", "Chloé"]
_LAST_INTL = ["Müller", "Gómez", "Häkkinen", "Dvořák", "Ødegaard", "Łęcki", "Núñez", "Straße", "Çelik", "Ünal"]
_DOMAINS = ["example.com", "mail.example.net", "customer.example.org", "firma.example.de", "example.co.uk"]
_TOPICS = [
    "Printer {n} does not print",
    "Invoice {n} is wrong",
    "Cannot log in to the portal (case {n})",
    "Order {n} has not arrived",
    "VPN drops every few minutes, ticket {n}",
    "Request for a refund, order {n}",
    "Password reset link expired ({n})",
    "Question about contract {n}",
]
_TOPICS_INTL = [
    "Drucker {n} druckt nicht – bitte prüfen",
    "Facture {n} erronée, merci de vérifier",
    "Pedido {n} no ha llegado – ¿qué pasó?",
    "Zamówienie {n}: brak dostawy, proszę o pomoc",
    "Rückerstattung für Bestellung {n} gewünscht",
    "Ошибка входа в портал, заявка {n}",
    "請求書 {n} の金額が違います",
]
_SENTENCES = [
    "Since this morning the device shows an error and nothing happens when I press the button.",
    "I have already restarted it twice and checked the cables, but the problem is still there.",
    "Could you please have a look at it as soon as possible? We need it for a customer meeting.",
    "The reference number from your last email was not accepted by the form on the website.",
    "Attached you will find the screenshot and the export that our accountant asked for.",
    "Our team of twelve people cannot work properly until this is fixed, so it is urgent.",
    "Please let me know if you need any further information from my side.",
]
_SENTENCES_INTL = [
    "Seit heute Morgen zeigt das Gerät einen Fehler, und nichts passiert – wirklich gar nichts.",
    "J'ai déjà redémarré deux fois et vérifié les câbles, mais le problème persiste.",
    "¿Podrían revisarlo lo antes posible? Lo necesitamos para una reunión con un cliente.",
    "Proszę o szybką odpowiedź, bo cały zespół czeka na rozwiązanie.",
]
_ATTACHMENTS = [
    ("application/pdf", "pdf"),
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("text/csv", "csv"),
]
_FILE_STEMS = ["invoice", "screenshot", "photo", "report", "export", "scan", "order"]
_FILE_STEMS_INTL = ["Rechnung März", "capture d'écran", "foto_pedido_nº", "zamówienie", "Übersicht Q3"]
# Content size in bytes before transfer encoding, per kind: (attachments per message, size range).
_ATTACHMENT_PLAN = {
    "small": ((1, 3), (200, 900)),
    "medium": ((2, 3), (10_000, 22_000)),
    "large": ((3, 3), (1_150_000, 1_300_000)),
}


def message(kind: str, index: int, seed: int = DEFAULT_SEED) -> bytes:
    """The raw bytes (CRLF line ends) of message `index` of `kind` for `seed`; always the same."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    rng = random.Random(f"{seed}:{kind}:{index}")  # noqa: S311 (seeded test data, not secrets)
    block = random.Random(f"{seed}:{kind}:block:{index // 20}")  # noqa: S311
    shapes, subjects, names = _SHAPES[:], _SUBJECT_ENCODED[:], _NAME_NON_ASCII[:]
    block.shuffle(shapes)
    block.shuffle(subjects)
    block.shuffle(names)
    shape = shapes[index % 20] if kind == "small" else "mixed"
    encoded_subject = subjects[index % 10]
    intl_name = names[index % 10]
    head = _headers(rng, kind, index, seed, encoded_subject=encoded_subject, intl_name=intl_name)
    body = _body(rng, kind, shape)
    return (head + body).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def messages(kind: str, count: int, seed: int = DEFAULT_SEED, start: int = 0) -> Iterator[bytes]:
    """`count` messages of `kind`, made one at a time (a large one is about 5 MB)."""
    for index in range(start, start + count):
        yield message(kind, index, seed)


# Headers


def _headers(rng: random.Random, kind: str, index: int, seed: int, *, encoded_subject: bool, intl_name: bool) -> bytes:
    first, last = (
        (rng.choice(_FIRST_INTL), rng.choice(_LAST_INTL)) if intl_name else (rng.choice(_FIRST), rng.choice(_LAST))
    )
    domain = rng.choice(_DOMAINS)
    local = f"{_ascii(first)}.{_ascii(last)}{rng.randrange(100)}".lower()
    address = f"{local}@{domain}"
    display = f"{first} {last}"
    if intl_name:
        sender = f"{_encoded_word(rng, display)} <{address}>"
    elif rng.random() < 0.3:
        sender = f'"{last}, {first}" <{address}>'  # Outlook's quoted "Last, First"
    else:
        sender = f"{display} <{address}>"
    number = 10_000 + index
    if encoded_subject:
        subject = _encoded_word(rng, rng.choice(_TOPICS_INTL).format(n=number))
    else:
        subject = rng.choice(_TOPICS).format(n=number)
    message_id = f"<{seed}.{kind}.{index}.{rng.getrandbits(48):012x}@{domain}>"
    day = 1 + index % 28
    time = f"{8 + index % 10:02d}:{index % 60:02d}:{(index * 7) % 60:02d}"
    date = f"Tue, {day:02d} Oct 2024 {time} +0200"
    relays = [f"mx{rng.randrange(1, 9)}.{domain}", f"relay{rng.randrange(1, 99)}.mail.example.net", "mx.example.org"]
    received = []
    for hop, (by, source) in enumerate(zip([*relays[1:], "imap.example.org"], relays, strict=True)):
        received.append(
            f"Received: from {source} ({source} [192.0.2.{rng.randrange(1, 254)}])\n"
            f"\tby {by} with ESMTPS id {rng.getrandbits(40):010x}\n"
            f"\tfor <support@example.org>; {date.replace(time, f'{time[:-2]}{(index + hop) % 60:02d}')}\n"
        )
    signature = base64.b64encode(rng.randbytes(256)).decode()
    body_hash = base64.b64encode(rng.randbytes(32)).decode()
    dkim = (
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=selector1;\n"
        f"\th=from:to:subject:date:message-id:mime-version:content-type;\n\tbh={body_hash};\n"
        + "".join(f"\tb={signature[:70]}\n" if n == 0 else f"\t {signature[n : n + 70]}\n" for n in range(0, 344, 70))
    )
    results = (
        "Authentication-Results: mx.example.org;\n"
        f"\tdkim=pass header.d={domain} header.s=selector1 header.b={signature[:8]};\n"
        f"\tspf=pass (mx.example.org: domain of {address} designates 192.0.2.7 as permitted sender)"
        f" smtp.mailfrom={address};\n\tdmarc=pass (p=NONE sp=NONE dis=NONE) header.from={domain}\n"
    )
    return (
        "".join(reversed(received))
        + dkim
        + results
        + f"From: {sender}\nTo: Support <support@example.org>\nSubject: {subject}\nDate: {date}\n"
        + f"Message-ID: {message_id}\nMIME-Version: 1.0\n"
    ).encode("ascii")


def _ascii(name: str) -> str:
    return name.encode("ascii", "ignore").decode() or "x"


def _encoded_word(rng: random.Random, text: str) -> str:
    """`text` as RFC 2047 encoded words, B or Q, UTF-8 (Latin-1 where it fits, as older clients do)."""
    charset = "utf-8"
    if rng.random() < 0.2:
        try:
            text.encode("iso-8859-1")
            charset = "iso-8859-1"
        except UnicodeEncodeError:
            pass
    header = Header(text, charset, header_name="Subject")
    if rng.random() < 0.5:  # Q encoding, as Outlook and Thunderbird often write it
        chosen = Charset(charset)
        chosen.header_encoding = QP
        header = Header(text, chosen, header_name="Subject")
    return header.encode(linesep="\n")


# Bodies


def _text(rng: random.Random, lines: int, intl: bool) -> str:
    pool = _SENTENCES + (_SENTENCES_INTL if intl else [])
    greeting = rng.choice(["Hello,", "Hi team,", "Dear support,", "Guten Tag,"])
    sentences = [rng.choice(pool) for _ in range(lines)]
    return f"{greeting}\n\n" + "\n".join(sentences) + "\n\nBest regards,\n" + rng.choice(_FIRST) + "\n"


def _encode_text(rng: random.Random, text: str, subtype: str) -> str:
    """A text part with its headers, in the transfer encoding a client would pick."""
    data = text.encode("utf-8")
    if data.isascii() and rng.random() < 0.8:
        return f"Content-Type: text/{subtype}; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n{text}"
    roll = rng.random()
    if roll < 0.65:
        encoded = quopri.encodestring(data.replace(b"\n", b"\r\n")).decode("ascii").replace("\r\n", "\n")
        return (
            f'Content-Type: text/{subtype}; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n{encoded}'
        )
    if roll < 0.85:
        return f"Content-Type: text/{subtype}; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n{text}"
    return f"Content-Type: text/{subtype}; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{_base64_lines(data)}"


def _html(text: str) -> str:
    paragraphs = "".join(f'<p class="MsoNormal">{line or "&nbsp;"}</p>\n' for line in text.splitlines())
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<style>p.MsoNormal{margin:0cm;font-size:11pt}</style></head>\n"
        f'<body lang="EN-GB"><div class="WordSection1">\n{paragraphs}</div></body></html>\n'
    )


def _boundary(rng: random.Random) -> str:
    return f"----=_Part_{rng.getrandbits(32)}_{rng.getrandbits(32)}.{rng.getrandbits(40)}"


def _body(rng: random.Random, kind: str, shape: str) -> bytes:
    intl = rng.random() < 0.35
    text = _text(rng, rng.randrange(2, 6), intl)
    if shape == "plain":
        return _encode_text(rng, text, "plain").encode("utf-8")
    outer = _boundary(rng)
    plain, html = _encode_text(rng, text, "plain"), _encode_text(rng, _html(text), "html")
    alternative = f"--{outer}\n{plain}\n--{outer}\n{html}\n--{outer}--\n"
    if shape == "alternative":
        return f'Content-Type: multipart/alternative;\n\tboundary="{outer}"\n\n{alternative}'.encode()
    inner, outer = outer, _boundary(rng)
    (least, most), sizes = _ATTACHMENT_PLAN[kind]
    parts = [f'--{outer}\nContent-Type: multipart/alternative;\n\tboundary="{inner}"\n\n{alternative}']
    for number in range(rng.randint(least, most)):
        parts.append(f"--{outer}\n{_attachment(rng, number, rng.randint(*sizes))}")
    return (
        f'Content-Type: multipart/mixed;\n\tboundary="{outer}"\n\nThis is a multi-part message in MIME format.\n\n'
        + "\n".join(parts)
        + f"\n--{outer}--\n"
    ).encode("utf-8")


def _attachment(rng: random.Random, number: int, size: int) -> str:
    content_type, extension = rng.choice(_ATTACHMENTS)
    if rng.random() < _NON_ASCII_FILENAME_SHARE:
        name = f"{rng.choice(_FILE_STEMS_INTL)} {number + 1}.{extension}"
        # RFC 2231 in the disposition, and the RFC 2047 form in Content-Type's name, as Outlook writes both.
        disposition = f"attachment;\n\tfilename*=utf-8''{quote(name, safe='')}"
        type_name = f'name="{Header(name, "utf-8").encode()}"'
    else:
        name = f"{rng.choice(_FILE_STEMS)}-{rng.randrange(1000)}.{extension}"
        disposition = f'attachment; filename="{name}"'
        type_name = f'name="{name}"'
    content = _file_content(rng, extension, size)
    return (
        f"Content-Type: {content_type}; {type_name}\nContent-Disposition: {disposition}\n"
        f"Content-Transfer-Encoding: base64\n\n{_base64_lines(content)}"
    )


def _file_content(rng: random.Random, extension: str, size: int) -> bytes:
    """Bytes that look like the file type: its magic numbers, then compressed-looking noise (or rows)."""
    if extension == "csv":
        rows = ["date,order,amount,status"]
        length = len(rows[0])
        while length < size:
            rows.append(f"2024-10-{rng.randrange(1, 29):02d},{rng.randrange(10**6)},{rng.randrange(10**5) / 100},open")
            length += len(rows[-1]) + 1
        return "\n".join(rows).encode()
    magic = {
        "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\nstream\n",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01",
        "docx": b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
    }[extension]
    noise = zlib.compress(rng.randbytes(max(0, size - len(magic))), 0)[: max(0, size - len(magic))]
    return magic + noise


def _base64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[start : start + 76] for start in range(0, len(encoded), 76)) + "\n"
