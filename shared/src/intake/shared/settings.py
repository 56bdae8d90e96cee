"""Settings groups shared by the services, read from `INTAKE_*` environment variables.

Each service composes the groups it needs in its own `settings.py` and loads them once, in
`__main__`, through `load_settings`, which turns a validation error into one line naming the setting.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from intake.shared.secrets import split_keys

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/intake"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class IntakeSettings(BaseSettings):
    """Base of every group: the `INTAKE_` prefix, and unknown variables ignored."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)


class LoggingSettings(IntakeSettings):
    log_level: str = Field(default="info", pattern=r"(?i)^(debug|info|warning|error)$")


class DatabaseSettings(IntakeSettings):
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)


class AmqpSettings(IntakeSettings):
    amqp_url: SecretStr = SecretStr(DEFAULT_AMQP_URL)
    # Deliveries of one message before its queue dead-letters it (INTAKE_DELIVERY_LIMIT). Every service
    # declares every queue with it, so it must be the same for all of them; RabbitMQ refuses to
    # redeclare an existing queue with another value.
    delivery_limit: int = Field(default=5, ge=1, le=100)


class SecretKeySettings(IntakeSettings):
    """`INTAKE_SECRET_KEY`: 32 random bytes in URL-safe base64 (a Fernet key). Required.

    While rotating keys it holds several, comma-separated, newest first: secrets are encrypted with the
    first and decrypted with any (see `intake.shared.secrets`).
    """

    secret_key: SecretStr

    @field_validator("secret_key")
    @classmethod
    def _is_fernet_key(cls, value: SecretStr) -> SecretStr:
        message = (
            "must be 32 bytes in URL-safe base64 (while rotating: several such keys, comma-separated, newest first)"
        )
        for key in split_keys(value.get_secret_value()):
            try:
                # validate=True: characters outside the alphabet are an error, not silently dropped.
                raw = base64.b64decode(key.encode("ascii"), altchars=b"-_", validate=True)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise ValueError(message) from None
            if len(raw) != 32:
                raise ValueError(message)
        return value


class SettingsError(Exception):
    """A required setting is missing or invalid; the message is one line naming it."""


S = TypeVar("S", bound=IntakeSettings)


def load_settings(settings_class: type[S]) -> S:
    """Read `settings_class` from the environment, or raise SettingsError naming the first bad variable."""
    try:
        return settings_class()
    except ValidationError as error:
        first = error.errors()[0]
        name = "INTAKE_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        if first["type"] == "missing":
            raise SettingsError(f"{name} is required but not set") from None
        raise SettingsError(f"{name} is invalid: {first['msg']}") from None
