"""What an inbox is and the rules for a new one (DESIGN §1): the request shape, presets, and what is supported yet.

Pure: `resolve_inbox` turns a validated request into the values to store, or into field errors with
reasons. Encrypting the secrets and writing the row belong to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator

from intake.config_api.errors import FieldError
from intake.config_api.providers import Encryption, Provider, preset_for

MAX_SECRET_LENGTH = 4096
MAX_CA_CERTIFICATE_LENGTH = 200_000
PEM_CERTIFICATE_HEADER = "-----BEGIN CERTIFICATE-----"
DEFAULT_ENCRYPTION = Encryption.SSL
POSTGRES_BIGINT_MAX = 2**63 - 1


class AuthMethod(StrEnum):
    PASSWORD = "password"  # noqa: S105 -- the name of an auth method, not a password
    OAUTH2 = "oauth2"


class ProcessedAction(StrEnum):
    MARK_READ = "mark_read"
    DELETE = "delete"


class UnmatchedAction(StrEnum):
    CREATE_ISSUE = "create_issue"
    IGNORE = "ignore"


class FirstFetch(StrEnum):
    """What the first connection to a folder takes: only the unread messages, or all of them (DESIGN §2)."""

    UNREAD = "unread"
    ALL = "all"


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
EmailAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]
# A DNS name, an IPv4 address or a bracketless IPv6 address.
Hostname = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9._:-]+$")
]
# IMAP mailbox names may hold any Unicode (sent as modified UTF-7, RFC 3501 §5.1.3), but no control characters.
Directory = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[^\x00-\x1f\x7f]+$")]
# BCP 47 language tag, loosely: "en", "de-CH", "zh-Hant-TW".
LanguageTag = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=35, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
]
IgnoredSender = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
RowId = Annotated[int, Field(ge=1, le=POSTGRES_BIGINT_MAX)]


def _check_secret(value: SecretStr | None) -> SecretStr | None:
    # Checked by hand: pydantic's length messages are fine, but keep every secret rule in one place.
    if value is not None and not 1 <= len(value.get_secret_value()) <= MAX_SECRET_LENGTH:
        raise ValueError(f"must be between 1 and {MAX_SECRET_LENGTH} characters")
    return value


class OAuth2Input(BaseModel):
    """The OAuth2 client of an inbox; `client_secret` is write-only."""

    model_config = ConfigDict(extra="forbid")

    client_id: Text | None = None
    tenant_id: Text | None = None
    client_secret: SecretStr | None = None

    _secret = field_validator("client_secret")(_check_secret)


class InboxCreate(BaseModel):
    """A new inbox as a client submits it (POST /api/v1/inboxes)."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    email: EmailAddress
    username: Text | None = Field(default=None, description="login name; defaults to `email`")
    password: SecretStr | None = Field(default=None, description="write-only")
    hostname: Hostname | None = Field(default=None, description="filled from the provider unless `custom`")
    port: int | None = Field(default=None, ge=1, le=65535, description="filled from the provider unless `custom`")
    directory: Directory = "INBOX"
    encryption: Encryption | None = Field(default=None, description="filled from the provider; `custom`: ssl")
    ca_certificate: str | None = Field(default=None, max_length=MAX_CA_CERTIFICATE_LENGTH)
    auth: AuthMethod = AuthMethod.PASSWORD
    oauth2: OAuth2Input | None = None
    processed_action: ProcessedAction = ProcessedAction.MARK_READ
    unmatched_action: UnmatchedAction = UnmatchedAction.CREATE_ISSUE
    ignored_senders: list[IgnoredSender] = Field(default_factory=list, max_length=1000)
    default_language: LanguageTag | None = None
    issue_type_id: RowId | None = None
    assigned_user_id: RowId | None = None
    assigned_organisation_id: RowId | None = None
    active: bool = True
    poll_interval_seconds: int = Field(default=60, ge=1, le=86400)
    first_fetch: FirstFetch = FirstFetch.UNREAD

    _password = field_validator("password")(_check_secret)

    @field_validator("ca_certificate")
    @classmethod
    def _is_pem(cls, value: str | None) -> str | None:
        if value is not None and PEM_CERTIFICATE_HEADER not in value:
            raise ValueError(f"must be a PEM certificate starting with {PEM_CERTIFICATE_HEADER}")
        return value


@dataclass(frozen=True)
class NewInbox:
    """The values to store for a new inbox, presets applied; secrets still in plain text, kept in SecretStr."""

    provider: Provider
    email: str
    username: str
    password: SecretStr | None
    hostname: str
    port: int
    directory: str
    encryption: Encryption
    ca_certificate: str | None
    auth: AuthMethod
    oauth2_client_id: str | None
    oauth2_tenant_id: str | None
    oauth2_client_secret: SecretStr | None
    processed_action: ProcessedAction
    unmatched_action: UnmatchedAction
    ignored_senders: tuple[str, ...]
    default_language: str | None
    issue_type_id: int | None
    assigned_user_id: int | None
    assigned_organisation_id: int | None
    active: bool
    poll_interval_seconds: int
    first_fetch: FirstFetch


def _field(name: str) -> tuple[str, ...]:
    return ("body", name)


def resolve_inbox(request: InboxCreate) -> NewInbox | list[FieldError]:
    """Apply the provider preset and the rules that span fields; return the inbox or every problem found.

    Not supported yet (issue 5): STARTTLS (`encryption: tls`) and OAuth2 sign-in (`auth: oauth2`).
    """
    errors: list[FieldError] = []
    preset = preset_for(request.provider)
    hostname = request.hostname or (preset.hostname if preset else None)
    port = request.port or (preset.port if preset else None)
    encryption = request.encryption or (preset.encryption if preset else DEFAULT_ENCRYPTION)
    if hostname is None:
        errors.append(FieldError(_field("hostname"), "required when provider is 'custom'", "missing"))
    if port is None:
        errors.append(FieldError(_field("port"), "required when provider is 'custom'", "missing"))
    if encryption is Encryption.TLS:
        errors.append(FieldError(_field("encryption"), "STARTTLS ('tls') is not supported yet: use 'ssl' or 'none'"))
    if request.auth is AuthMethod.OAUTH2:
        errors.append(FieldError(_field("auth"), "OAuth2 sign-in is not supported yet: use 'password'"))
    elif preset is not None and preset.requires_oauth2:
        errors.append(FieldError(_field("auth"), f"{request.provider.value} accepts only OAuth2 sign-in ('oauth2')"))
    if request.auth is AuthMethod.PASSWORD and request.password is None:
        errors.append(FieldError(_field("password"), "required when auth is 'password'", "missing"))
    if errors:
        return errors
    assert hostname is not None
    assert port is not None
    oauth2 = request.oauth2 or OAuth2Input()
    return NewInbox(
        provider=request.provider,
        email=request.email,
        username=request.username or request.email,
        password=request.password,
        hostname=hostname,
        port=port,
        directory=request.directory,
        encryption=encryption,
        ca_certificate=request.ca_certificate,
        auth=request.auth,
        oauth2_client_id=oauth2.client_id,
        oauth2_tenant_id=oauth2.tenant_id,
        oauth2_client_secret=oauth2.client_secret,
        processed_action=request.processed_action,
        unmatched_action=request.unmatched_action,
        ignored_senders=tuple(dict.fromkeys(request.ignored_senders)),
        default_language=request.default_language,
        issue_type_id=request.issue_type_id,
        assigned_user_id=request.assigned_user_id,
        assigned_organisation_id=request.assigned_organisation_id,
        active=request.active,
        poll_interval_seconds=request.poll_interval_seconds,
        first_fetch=request.first_fetch,
    )


StatusState = Literal["unknown", "disabled"]


def status_state(active: bool) -> StatusState:
    """The health state shown for an inbox until the fetcher's `inbox.status` events are consumed (issue 3).

    An inactive inbox is `disabled`; an active one is `unknown`, never a guessed `ok`.
    """
    return "unknown" if active else "disabled"
