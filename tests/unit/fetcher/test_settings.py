"""Settings: defaults, and the one-line exit when something required is missing."""

from __future__ import annotations

import pytest

from intake.fetcher.__main__ import main
from intake.fetcher.settings import FetcherSettings
from intake.shared.secrets import SecretBox


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_SECRET_KEY", SecretBox.generate_key())
    monkeypatch.setenv("INTAKE_FETCHER_MAX_MESSAGES_PER_CYCLE", "7")
    settings = FetcherSettings()
    assert settings.fetcher_inbox_refresh_seconds == 5
    assert settings.fetcher_max_messages_per_cycle == 7
    assert settings.fetcher_max_message_bytes == 25 * 1024 * 1024


def test_missing_secret_key_exits_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTAKE_SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == "intake-fetcher: INTAKE_SECRET_KEY is required but not set"
