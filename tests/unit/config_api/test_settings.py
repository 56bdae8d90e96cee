"""The config API's settings: required secrets, token length, listening defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from intake.config_api.settings import ConfigApiSettings
from intake.shared.settings import SettingsError, load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, secret_key: str) -> pytest.MonkeyPatch:
    for name in ("INTAKE_ADMIN_TOKEN", "INTAKE_API_HOST", "INTAKE_API_PORT", "INTAKE_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("INTAKE_OAUTH2_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("INTAKE_SECRET_KEY", secret_key)
    monkeypatch.setenv("INTAKE_SERVICE_TOKEN", "s" * 16)
    return monkeypatch


def test_defaults(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    settings = load_settings(ConfigApiSettings)
    assert (settings.api_host, settings.api_port, settings.log_level) == ("127.0.0.1", 8080, "info")
    assert settings.admin_token.get_secret_value() == "a" * 16


def test_admin_token_is_required(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"^INTAKE_ADMIN_TOKEN is required but not set$"):
        load_settings(ConfigApiSettings)


def test_short_admin_token_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 15)
    with pytest.raises(SettingsError, match=r"^INTAKE_ADMIN_TOKEN is invalid: .*at least 16 characters$"):
        load_settings(ConfigApiSettings)


def test_secret_key_is_required(env: pytest.MonkeyPatch) -> None:
    env.delenv("INTAKE_SECRET_KEY")
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    with pytest.raises(SettingsError, match=r"^INTAKE_SECRET_KEY is required"):
        load_settings(ConfigApiSettings)


def test_port_from_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    env.setenv("INTAKE_API_PORT", "9090")
    env.setenv("INTAKE_API_HOST", "0.0.0.0")
    settings = load_settings(ConfigApiSettings)
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 9090)


def test_email_log_retention(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    env.delenv("INTAKE_EMAIL_LOG_RETENTION_DAYS", raising=False)
    assert load_settings(ConfigApiSettings).email_log_retention_days == 90
    env.setenv("INTAKE_EMAIL_LOG_RETENTION_DAYS", "0")
    assert load_settings(ConfigApiSettings).email_log_retention_days == 0
    env.setenv("INTAKE_EMAIL_LOG_RETENTION_DAYS", "-1")
    with pytest.raises(SettingsError, match=r"^INTAKE_EMAIL_LOG_RETENTION_DAYS is invalid"):
        load_settings(ConfigApiSettings)


def test_service_token_is_required(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    env.delenv("INTAKE_SERVICE_TOKEN")
    with pytest.raises(SettingsError, match=r"^INTAKE_SERVICE_TOKEN is required but not set$"):
        load_settings(ConfigApiSettings)


def test_short_service_token_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    env.setenv("INTAKE_SERVICE_TOKEN", "s" * 15)
    with pytest.raises(SettingsError, match=r"^INTAKE_SERVICE_TOKEN is invalid: .*at least 16 characters$"):
        load_settings(ConfigApiSettings)


def test_oauth2_defaults_are_the_real_providers(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    settings = load_settings(ConfigApiSettings)
    assert settings.oauth2_google_authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert settings.oauth2_google_token_url == "https://oauth2.googleapis.com/token"
    assert settings.oauth2_microsoft_authority == "https://login.microsoftonline.com"
    assert settings.redirect_url == "http://127.0.0.1:8080/api/v1/oauth2/callback"


def test_oauth2_endpoints_must_be_https(env: pytest.MonkeyPatch) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    env.setenv("INTAKE_OAUTH2_GOOGLE_TOKEN_URL", "http://oauth2.example/token")
    with pytest.raises(SettingsError, match=r"^INTAKE_OAUTH2_GOOGLE_TOKEN_URL is invalid"):
        load_settings(ConfigApiSettings)


def test_missing_ca_file_is_named(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("INTAKE_ADMIN_TOKEN", "a" * 16)
    env.setenv("INTAKE_OAUTH2_CA_FILE", str(tmp_path / "absent.pem"))
    with pytest.raises(SettingsError, match=r"^INTAKE_OAUTH2_CA_FILE is invalid: .*no such file"):
        load_settings(ConfigApiSettings)
