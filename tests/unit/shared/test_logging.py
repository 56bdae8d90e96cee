"""Log redaction: secrets never reach the log output, whatever the key or the text."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from intake.shared.logging import REDACTED, configure_logging, redact_secrets, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amqp://guest:hunter2@rabbit:5672/", f"amqp://guest:{REDACTED}@rabbit:5672/"),
        ("postgresql://app:p%40ss@db/intake", f"postgresql://app:{REDACTED}@db/intake"),
        ("postgresql://postgres@db/intake", "postgresql://postgres@db/intake"),
        ("Authorization: Bearer abc.DEF-123", f"Authorization: Bearer {REDACTED}"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_secret_keys_are_blanked_at_any_depth() -> None:
    event = {
        "event": "inbox saved",
        "password": "hunter2",
        "inbox": {"username": "a", "client_secret": "s3", "nested": {"refresh_token": "rt"}},
        "token_count": 0,
        "password_set": True,
    }
    out = redact_secrets(None, "info", dict(event))
    assert out["password"] == REDACTED
    assert out["inbox"]["client_secret"] == REDACTED
    assert out["inbox"]["nested"]["refresh_token"] == REDACTED
    assert out["inbox"]["username"] == "a"
    assert out["password_set"] is True


def test_library_and_structlog_lines_are_redacted_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", "info")
    structlog.get_logger("t").info("connecting", url="amqp://guest:hunter2@h/", password="hunter2")
    logging.getLogger("some.library").warning("failed for amqp://u:hunter2@h/")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    assert all("hunter2" not in json.dumps(line) for line in lines)
    assert lines[0]["service"] == "test"
    assert lines[1]["message"] == f"failed for amqp://u:{REDACTED}@h/"
