"""Settings groups: a missing or invalid required setting becomes one line naming it."""

from __future__ import annotations

import pytest

from intake.shared.secrets import SecretBox
from intake.shared.settings import (
    DEFAULT_AMQP_URL,
    AmqpSettings,
    DatabaseSettings,
    SecretKeySettings,
    SettingsError,
    load_settings,
)


class ServiceSettings(DatabaseSettings, AmqpSettings, SecretKeySettings):
    pass


def test_missing_secret_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTAKE_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError) as raised:
        load_settings(ServiceSettings)
    assert str(raised.value) == "INTAKE_SECRET_KEY is required but not set"


@pytest.mark.parametrize("value", ["short", "not base64 at all!!", "YWJj"])
def test_malformed_secret_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("INTAKE_SECRET_KEY", value)
    with pytest.raises(SettingsError) as raised:
        load_settings(ServiceSettings)
    assert "INTAKE_SECRET_KEY is invalid" in str(raised.value)
    assert value not in str(raised.value)
    assert "\n" not in str(raised.value)


def test_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    key = SecretBox.generate_key()
    monkeypatch.setenv("INTAKE_SECRET_KEY", key)
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://db.example/intake")
    monkeypatch.delenv("INTAKE_AMQP_URL", raising=False)
    settings = load_settings(ServiceSettings)
    assert settings.secret_key.get_secret_value() == key
    assert settings.database_url.get_secret_value() == "postgresql://db.example/intake"
    assert settings.amqp_url.get_secret_value() == DEFAULT_AMQP_URL
    assert key not in repr(settings)


def test_several_keys_while_rotating(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = f"{SecretBox.generate_key()}, {SecretBox.generate_key()}"
    monkeypatch.setenv("INTAKE_SECRET_KEY", keys)
    assert load_settings(ServiceSettings).secret_key.get_secret_value() == keys


@pytest.mark.parametrize("shape", ["{key},", ",{key}", "{key},short", "{key};{key}"])
def test_a_bad_key_among_several_is_refused_without_echoing(monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    key = SecretBox.generate_key()
    monkeypatch.setenv("INTAKE_SECRET_KEY", shape.format(key=key))
    with pytest.raises(SettingsError) as raised:
        load_settings(ServiceSettings)
    assert "INTAKE_SECRET_KEY is invalid" in str(raised.value)
    assert key not in str(raised.value)
