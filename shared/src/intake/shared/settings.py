"""Settings groups shared by the services, read from `INTAKE_*` environment variables.

Each service composes the groups it needs in its own `settings.py` and loads them once, in
`__main__`, through `load_settings`, which turns a validation error into one line naming the setting.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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


class RetentionSettings(IntakeSettings):
    """How long the fetcher's records and the ingestor's dedupe keys are kept, and the blob collector.

    Read by the fetcher and the ingestor (each checks the pair, so set them alike for both). See
    docs/architecture.md "Storage lifecycle".
    """

    # The fetcher's row of a message (and a UID's failed fetch attempts) is deleted this many days after
    # its outcome arrived and its mailbox action was done or abandoned (INTAKE_FETCHER_RETENTION_DAYS;
    # 0 keeps them for ever).
    fetcher_retention_days: int = Field(default=30, ge=0, le=36500)
    # The ingestor's outcome per (inbox, UIDVALIDITY, UID), which recognises a redelivered or republished
    # message.fetched, is deleted this many days after it was decided (INTAKE_INGESTOR_OUTCOME_RETENTION_DAYS;
    # 0 keeps them for ever). At least INTAKE_FETCHER_RETENTION_DAYS.
    ingestor_outcome_retention_days: int = Field(default=90, ge=0, le=36500)
    # A blob nothing refers to is deleted only once it was last stored longer ago than this
    # (INTAKE_BLOB_GRACE_SECONDS): keep it above the longest transaction that stores blobs.
    blob_grace_seconds: float = Field(default=3600.0, ge=1, le=30 * 86400)
    # How often the fetcher prunes its records and the ingestor its outcomes and the blobs
    # (INTAKE_CLEANUP_INTERVAL_SECONDS); each also runs once right after start.
    cleanup_interval_seconds: float = Field(default=3600.0, ge=1, le=7 * 86400)

    @model_validator(mode="after")
    def _dedupe_keys_outlive_fetcher_records(self) -> RetentionSettings:
        fetcher, outcomes = self.fetcher_retention_days, self.ingestor_outcome_retention_days
        if outcomes != 0 and (fetcher == 0 or outcomes < fetcher):
            raise ValueError(
                f"INTAKE_INGESTOR_OUTCOME_RETENTION_DAYS ({outcomes}) must be 0 (for ever) or at least "
                f"INTAKE_FETCHER_RETENTION_DAYS ({fetcher or 'for ever'})"
            )
        return self


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
