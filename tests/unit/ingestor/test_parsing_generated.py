"""The parsing fast path agrees with `policy.default` on the realistic mail of `bench/realistic_mail.py`.

Every generated message must take the common (`compat32`) path and give exactly the value the full
(`policy.default`) path gives: subject, addresses, date, text and HTML body, and every attachment's
name, type, size and SHA-256. 2,000 messages of the small and medium kinds; 20 of the large kind
(5 MB each: 2,000 take about 15 minutes to generate and parse twice, too long for every run; 20 is
what the memory benchmark ingests). `INTAKE_TEST_LARGE_MESSAGES=2000` checks 2,000 large ones too.
Messages are made one at a time, so only one is in memory.
"""

from __future__ import annotations

import hashlib
import os
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from bench.realistic_mail import message, messages
from intake.ingestor import parsing
from intake.ingestor.parsing import ParsedMessage, parse_message_fully

COUNTS = {"small": 2000, "medium": 2000, "large": int(os.environ.get("INTAKE_TEST_LARGE_MESSAGES", "20"))}


def summary(parsed: ParsedMessage) -> dict[str, object]:
    """What the issue names, in a form whose difference reads well in a failure."""
    return {
        "subject": parsed.subject,
        "sender": parsed.sender,
        "to": parsed.to,
        "cc": parsed.cc,
        "date": parsed.date,
        "body_text": parsed.body_text,
        "body_html": parsed.body_html,
        "attachments": [
            (a.filename, a.content_type, len(a.content), hashlib.sha256(a.content).hexdigest())
            for a in parsed.attachments
        ],
    }


@pytest.mark.parametrize("kind", list(COUNTS))
def test_fast_path_agrees_with_policy_default_on_generated_mail(kind: str) -> None:
    for index, raw in enumerate(messages(kind, COUNTS[kind])):
        fast = parsing._parse_common(parsing.without_obsolete_field_names(raw))
        assert fast is not None, f"{kind} message {index} did not take the fast path"
        full = parse_message_fully(raw)
        assert summary(fast) == summary(full), f"{kind} message {index}"
        assert fast == full, f"{kind} message {index}"


@pytest.mark.parametrize("kind", list(COUNTS))
def test_generated_attachments_are_what_the_stdlib_finds(kind: str) -> None:
    """The parser keeps exactly the parts the stdlib calls attachments, byte for byte (checked on the
    first 200 of each kind, 5 large ones: the agreement test above covers the rest)."""
    for index, raw in enumerate(messages(kind, 5 if kind == "large" else 200)):
        stdlib = message_from_bytes(raw, policy=policy.default)
        assert isinstance(stdlib, EmailMessage)
        expected = [
            (part.get_filename(), hashlib.sha256(part.get_payload(decode=True)).hexdigest())
            for part in stdlib.iter_attachments()
        ]
        parsed = parsing.parse_message(raw)
        kept = [(a.filename, hashlib.sha256(a.content).hexdigest()) for a in parsed.attachments]
        assert kept == expected, f"{kind} message {index}"
        assert parsed.subject == str(stdlib["Subject"])


def test_generator_is_deterministic_and_has_the_issues_mix() -> None:
    assert message("small", 7) == message("small", 7)
    assert message("small", 7, seed=1) != message("small", 7)
    shapes: dict[str, int] = {}
    encoded_subjects = non_ascii_names = 0
    sizes = []
    for raw in messages("small", 2000):
        stdlib = message_from_bytes(raw, policy=policy.default)
        shapes[stdlib.get_content_type()] = shapes.get(stdlib.get_content_type(), 0) + 1
        encoded_subjects += b"\r\nSubject: =?" in raw
        non_ascii_names += not str(stdlib["From"].addresses[0].display_name).isascii()
        sizes.append(len(raw))
        assert raw.count(b"\r\nReceived: ") + raw.startswith(b"Received: ") == 3
        assert b"\r\nDKIM-Signature: " in raw
        assert b"\r\nAuthentication-Results: " in raw
    assert shapes == {"text/plain": 800, "multipart/alternative": 700, "multipart/mixed": 500}
    assert (encoded_subjects, non_ascii_names) == (600, 400)
    assert 2500 < sum(sizes) / len(sizes) < 4000
