"""The config API's settings: database, broker, secret key, admin and service tokens, listening, OAuth2 providers.

Read once in `__main__` through `intake.shared.settings.load_settings` and passed down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from intake.shared.settings import AmqpSettings, DatabaseSettings, LoggingSettings, SecretKeySettings

# Shorter tokens are guessable; 16 characters is the floor, `secrets.token_urlsafe(32)` is what `make run` writes.
ADMIN_TOKEN_MIN_LENGTH = 16

GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a password
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"


def _long_enough(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < ADMIN_TOKEN_MIN_LENGTH:
        raise ValueError(f"must be at least {ADMIN_TOKEN_MIN_LENGTH} characters")
    return value


class ConfigApiSettings(LoggingSettings, DatabaseSettings, AmqpSettings, SecretKeySettings):
    """`INTAKE_DATABASE_URL`, `INTAKE_AMQP_URL`, `INTAKE_SECRET_KEY`, `INTAKE_ADMIN_TOKEN`, `INTAKE_SERVICE_TOKEN`,
    `INTAKE_API_HOST/PORT`, `INTAKE_EMAIL_LOG_RETENTION_DAYS`, `INTAKE_EMAIL_LOG_CLEANUP_INTERVAL_SECONDS`,
    `INTAKE_CONNECTION_TEST_TIMEOUT_SECONDS`, the `INTAKE_OAUTH2_*` provider endpoints and the console's
    `INTAKE_CONSOLE_SESSION_MINUTES` and `INTAKE_CONSOLE_TRUST_FORWARDED_PROTO`."""

    admin_token: SecretStr
    # Presented by the fetcher to /internal/v1 to get short-lived OAuth2 access tokens; never valid on /api/v1.
    service_token: SecretStr
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    # Email log rows older than this many days are deleted (0 keeps them forever), checked this often.
    email_log_retention_days: int = Field(default=90, ge=0, le=36500)
    email_log_cleanup_interval_seconds: float = Field(default=3600.0, gt=0, le=86400)
    # Each step of the Test connection action (look-up, connect, TLS, login, select) may take this long.
    connection_test_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Where the provider sends the browser back after consent; must be registered with the provider.
    # Default: http://{api_host}:{api_port}/api/v1/oauth2/callback.
    oauth2_redirect_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    oauth2_google_authorize_url: str = Field(default=GOOGLE_AUTHORIZE_URL, pattern=r"^https://[^\s]+$")
    oauth2_google_token_url: str = Field(default=GOOGLE_TOKEN_URL, pattern=r"^https://[^\s]+$")
    # The Microsoft identity platform's host; the inbox's tenant (or `common`) is appended.
    oauth2_microsoft_authority: str = Field(default=MICROSOFT_AUTHORITY, pattern=r"^https://[^\s/]+/?$")
    # Extra CA certificates (PEM file) to trust for the provider endpoints, besides the system's.
    oauth2_ca_file: Path | None = None
    oauth2_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    oauth2_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # The web console: a sign-in lasts this many minutes (default 12 hours) and then asks again.
    console_session_minutes: int = Field(default=720, ge=5, le=43200)
    # Behind a TLS-terminating proxy the console sees http; set true only when that proxy sets
    # X-Forwarded-Proto (and clients cannot), so the session cookie is marked Secure for https visitors.
    console_trust_forwarded_proto: bool = False

    @field_validator("admin_token", "service_token")
    @classmethod
    def _tokens_long_enough(cls, value: SecretStr) -> SecretStr:
        return _long_enough(value)

    @field_validator("oauth2_redirect_url", "oauth2_ca_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `VAR=` in an env file means "not set", not "the empty URL/path".
        return None if value == "" else value

    @field_validator("oauth2_ca_file")
    @classmethod
    def _ca_file_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def redirect_url(self) -> str:
        return self.oauth2_redirect_url or f"http://{self.api_host}:{self.api_port}/api/v1/oauth2/callback"


class SecretRotationSettings(LoggingSettings, DatabaseSettings, SecretKeySettings):
    """What `intake-config-api rotate-secrets` needs: the database and `INTAKE_SECRET_KEY` (new key first)."""
