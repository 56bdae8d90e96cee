"""Settings: defaults, and the one-line exit when something required is missing."""

from __future__ import annotations

import doctest

import pytest

from intake.fetcher import settings as settings_module
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


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080", "https://config-api.example:8443"]
)
def test_config_api_url_on_loopback_or_https_is_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("INTAKE_SECRET_KEY", SecretBox.generate_key())
    monkeypatch.setenv("INTAKE_CONFIG_API_URL", url)
    assert FetcherSettings().config_api_url == url


def test_plain_http_to_another_host_exits_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_SECRET_KEY", SecretBox.generate_key())
    monkeypatch.setenv("INTAKE_CONFIG_API_URL", "http://config-api:8080")
    monkeypatch.delenv("INTAKE_CONFIG_API_ALLOW_PLAINTEXT", raising=False)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == (
        "intake-fetcher: INTAKE_CONFIG_API_URL is invalid: Value error, plain http to config-api would send the "
        "service token and access tokens in clear; use https, or set INTAKE_CONFIG_API_ALLOW_PLAINTEXT=true on a "
        "private network"
    )


def test_plain_http_to_another_host_is_accepted_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_SECRET_KEY", SecretBox.generate_key())
    monkeypatch.setenv("INTAKE_CONFIG_API_URL", "http://config-api:8080")
    monkeypatch.setenv("INTAKE_CONFIG_API_ALLOW_PLAINTEXT", "true")
    assert FetcherSettings().config_api_url == "http://config-api:8080"


@pytest.mark.parametrize("url", ["config-api:8080", "ftp://config-api", "http://"])
def test_config_api_url_must_be_http_with_a_host(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("INTAKE_SECRET_KEY", SecretBox.generate_key())
    monkeypatch.setenv("INTAKE_CONFIG_API_URL", url)
    monkeypatch.setenv("INTAKE_CONFIG_API_ALLOW_PLAINTEXT", "true")
    with pytest.raises(SystemExit) as exited:
        main()
    assert "must be an http:// or https:// URL with a host" in str(exited.value.code)


def test_doctests() -> None:
    assert doctest.testmod(settings_module).failed == 0
