"""The fetcher's settings: database, broker, secret key, logging, and how it polls.

Loaded once in `__main__` and passed down; nothing here reads the environment at import time.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from intake.shared.settings import (
    AmqpSettings,
    DatabaseSettings,
    LoggingSettings,
    RetentionSettings,
    SecretKeySettings,
)


class FetcherSettings(LoggingSettings, DatabaseSettings, AmqpSettings, SecretKeySettings, RetentionSettings):
    """`INTAKE_DATABASE_URL`, `INTAKE_AMQP_URL`, `INTAKE_SECRET_KEY`, `INTAKE_LOG_LEVEL`, `INTAKE_FETCHER_*`,
    `INTAKE_CONFIG_API_URL`, `INTAKE_CONFIG_API_ALLOW_PLAINTEXT`, `INTAKE_SERVICE_TOKEN`, the retention
    settings (`RetentionSettings`)."""

    # Where /healthz, /readyz and /metrics are served (INTAKE_FETCHER_HTTP_HOST, INTAKE_FETCHER_HTTP_PORT);
    # 0.0.0.0 in a container, so the orchestrator and Prometheus reach them.
    fetcher_http_host: str = Field(default="127.0.0.1", min_length=1)
    fetcher_http_port: int = Field(default=8081, ge=1, le=65535)

    # How often the list of active inboxes is re-read from config.inbox_settings (INTAKE_FETCHER_INBOX_REFRESH_SECONDS).
    fetcher_inbox_refresh_seconds: float = Field(default=5.0, gt=0, le=3600)
    # At most this many new messages are fetched per inbox per cycle (INTAKE_FETCHER_MAX_MESSAGES_PER_CYCLE);
    # a full cycle starts the next at once. Each cycle also searches, reads sizes, does the mailbox
    # actions owed and reports health: 500 keeps that under a fifth of the fetcher's time in a backlog.
    fetcher_max_messages_per_cycle: int = Field(default=500, ge=1, le=10_000)
    # Larger messages are not fetched; they stay in the mailbox (INTAKE_FETCHER_MAX_MESSAGE_BYTES).
    fetcher_max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # Outer limit on every IMAP step (INTAKE_FETCHER_IMAP_TIMEOUT_SECONDS).
    fetcher_imap_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Reconnect backoff after errors grows up to this (INTAKE_FETCHER_MAX_BACKOFF_SECONDS).
    fetcher_max_backoff_seconds: float = Field(default=300.0, gt=0, le=3600)
    # An inbox lease lasts this long; it is renewed every third of it, and a replica that could not
    # renew stops its loops after two thirds of it (INTAKE_FETCHER_LEASE_SECONDS). A killed replica's
    # inboxes move to the others within this time.
    fetcher_lease_seconds: float = Field(default=15.0, ge=3, le=600)
    # Deliveries RabbitMQ hands the processed-consumer before it acks any (INTAKE_FETCHER_PREFETCH); one
    # holds a single outcome or the ingestor's batch of up to 100. Batches take up to 200 outcomes.
    fetcher_prefetch: int = Field(default=128, ge=1, le=1000)
    # IMAP IDLE is ended and issued again after this long (RFC 2177: before 29 minutes) (INTAKE_FETCHER_IDLE_SECONDS).
    fetcher_idle_seconds: float = Field(default=25 * 60, gt=0, le=29 * 60)
    # Allow an http:// INTAKE_CONFIG_API_URL on a host other than loopback: the service token and access tokens
    # then cross the network in clear, acceptable only on a private network (INTAKE_CONFIG_API_ALLOW_PLAINTEXT).
    # Declared before config_api_url, whose check reads it.
    config_api_allow_plaintext: bool = False
    # Where config-api serves the internal access-token endpoint for OAuth2 inboxes (INTAKE_CONFIG_API_URL):
    # https, or http on a loopback host (or anywhere with INTAKE_CONFIG_API_ALLOW_PLAINTEXT=true).
    config_api_url: str = "http://127.0.0.1:8080"
    # Proves the fetcher to config-api's internal endpoints; without it OAuth2 inboxes cannot sign in
    # (INTAKE_SERVICE_TOKEN).
    service_token: SecretStr | None = None

    @field_validator("config_api_url")
    @classmethod
    def _check_config_api_url(cls, value: str, info: ValidationInfo) -> str:
        return checked_config_api_url(value, allow_plaintext=bool(info.data.get("config_api_allow_plaintext")))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_config_api_url(url: str, *, allow_plaintext: bool) -> str:
    """`url` if the service token may be sent to it, else ValueError with a one-line reason.

    https always; http only to a loopback host unless plaintext is allowed (the token would cross the
    network in clear).

    >>> checked_config_api_url("http://[::1]:8080", allow_plaintext=False)
    'http://[::1]:8080'
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. https://config-api.internal:8443")
    if parts.scheme == "http" and not allow_plaintext and not _is_loopback(parts.hostname):
        raise ValueError(
            f"plain http to {parts.hostname} would send the service token and access tokens in clear; "
            "use https, or set INTAKE_CONFIG_API_ALLOW_PLAINTEXT=true on a private network"
        )
    return url
