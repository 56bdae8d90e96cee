"""The config API's settings: database, broker, secret key, admin token and where to listen.

Read once in `__main__` through `intake.shared.settings.load_settings` and passed down.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from intake.shared.settings import AmqpSettings, DatabaseSettings, LoggingSettings, SecretKeySettings

# Shorter tokens are guessable; 16 characters is the floor, `secrets.token_urlsafe(32)` is what `make run` writes.
ADMIN_TOKEN_MIN_LENGTH = 16


class ConfigApiSettings(LoggingSettings, DatabaseSettings, AmqpSettings, SecretKeySettings):
    """`INTAKE_DATABASE_URL`, `INTAKE_AMQP_URL`, `INTAKE_SECRET_KEY`, `INTAKE_ADMIN_TOKEN`, `INTAKE_API_HOST/PORT`,
    `INTAKE_EMAIL_LOG_RETENTION_DAYS`, `INTAKE_EMAIL_LOG_CLEANUP_INTERVAL_SECONDS`,
    `INTAKE_CONNECTION_TEST_TIMEOUT_SECONDS`."""

    admin_token: SecretStr
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    # Email log rows older than this many days are deleted (0 keeps them forever), checked this often.
    email_log_retention_days: int = Field(default=90, ge=0, le=36500)
    email_log_cleanup_interval_seconds: float = Field(default=3600.0, gt=0, le=86400)
    # Each step of the Test connection action (look-up, connect, TLS, login, select) may take this long.
    connection_test_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < ADMIN_TOKEN_MIN_LENGTH:
            raise ValueError(f"must be at least {ADMIN_TOKEN_MIN_LENGTH} characters")
        return value


class SecretRotationSettings(LoggingSettings, DatabaseSettings, SecretKeySettings):
    """What `intake-config-api rotate-secrets` needs: the database and `INTAKE_SECRET_KEY` (new key first)."""
