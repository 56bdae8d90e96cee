"""The development mailbox's settings and saved credentials (deploy/local/dev_mailbox.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deploy.local.dev_mailbox import DEFAULT_PORT, DevMailbox, DevMailboxError, port_setting


@pytest.mark.parametrize(
    ("value", "port"), [(None, DEFAULT_PORT), ("", DEFAULT_PORT), (" 2143 ", 2143), ("65535", 65535)]
)
def test_port_setting(value: str | None, port: int) -> None:
    assert port_setting(value) == port


@pytest.mark.parametrize("value", ["0", "65536", "-1", "imap", "10143x"])
def test_port_setting_names_a_bad_value(value: str) -> None:
    with pytest.raises(DevMailboxError, match=f"INTAKE_DEV_MAILBOX_PORT must be a TCP port .*{value}"):
        port_setting(value)


def test_saved_mailbox_is_read_back_and_private(tmp_path: Path) -> None:
    mailbox = DevMailbox(host="127.0.0.1", port=10143, username="dev@example.com", password="s3cret")
    mailbox.save(tmp_path)
    assert DevMailbox.load(tmp_path) == mailbox
    assert stat.S_IMODE((tmp_path / "mailbox.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("content", [None, "not json", '{"host": "127.0.0.1"}'])
def test_missing_or_broken_mailbox_says_to_run_make_run(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "mailbox.json").write_text(content)
    with pytest.raises(DevMailboxError, match="start one with `make run`"):
        DevMailbox.load(tmp_path)
