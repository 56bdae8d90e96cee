"""The inbox requests of the API (DESIGN §3): the shapes a client submits (`InboxCreate`, `InboxPatch`)
and the checks on each field's own value.

Pure. The rules that span fields and apply the provider presets are `inbox_resolution`.
"""

from __future__ import annotations

from typing import Annotated

from cryptography import x509
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator

from intake.config_api.inbox_settings import AuthMethod
from intake.config_api.languages import normalise_language
from intake.config_api.providers import Provider
from intake.shared.inbox_vocabulary import Encryption, FirstFetch, ProcessedAction, UnmatchedAction

MAX_SECRET_LENGTH = 4096
MAX_CA_CERTIFICATE_LENGTH = 200_000
MAX_IGNORED_SENDERS = 1000
POSTGRES_BIGINT_MAX = 2**63 - 1


def _check_secret(value: SecretStr | None) -> SecretStr | None:
    # Checked by hand so that no length message can ever carry the value.
    if value is not None and not 1 <= len(value.get_secret_value()) <= MAX_SECRET_LENGTH:
        raise ValueError(f"must be between 1 and {MAX_SECRET_LENGTH} characters")
    return value


def _check_ignored_sender(value: str) -> str:
    """An ignored-sender entry: an address or a fragment of one (`@spam.example`), stored lower-case.

    Matching is case-insensitive (DESIGN §1), so the entry is kept lower-case. An entry must be one
    address-like token: no spaces, no control characters, no list separators or angle brackets, at
    most one `@`, and more than a lone `@`.
    """
    entry = value.strip().lower()
    if not entry or entry == "@":
        raise ValueError("must be an address or a part of one, e.g. 'noreply@example.com' or '@example.com'")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in entry):
        raise ValueError("must not contain spaces or control characters")
    if any(c in entry for c in ',;<>"()[]'):
        raise ValueError("must be one address or fragment, without separators, quotes or angle brackets")
    if entry.count("@") > 1:
        raise ValueError("must contain at most one '@'")
    return entry


def _check_language(value: str) -> str:
    code = normalise_language(value)
    if code is None:
        raise ValueError("must be an ISO 639-1 language code, e.g. 'en' or 'de' (see GET /api/v1/languages)")
    return code


def _check_ca_certificate(value: str) -> str:
    """One or more PEM certificates that parse; the text is stored as given."""
    if "\x00" in value:
        raise ValueError("must be PEM text, without NUL characters")
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError("must be a PEM certificate starting with -----BEGIN CERTIFICATE-----")
    try:
        x509.load_pem_x509_certificates(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValueError("is not a readable PEM certificate (the base64 body or its structure is damaged)") from None
    return value


# One line of text: no control characters (PostgreSQL text cannot even hold NUL).
SINGLE_LINE = r"^[^\x00-\x1f\x7f]+$"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=SINGLE_LINE)]
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"
EmailAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320, pattern=EMAIL_PATTERN)
]
# A DNS name, an IPv4 address or a bracketless IPv6 address.
Hostname = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9._:-]+$")
]
Port = Annotated[int, Field(ge=1, le=65535)]
# IMAP mailbox names may hold any Unicode (sent as modified UTF-7, RFC 3501 §5.1.3), but no control characters.
Directory = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[^\x00-\x1f\x7f]+$")]
Language = Annotated[str, StringConstraints(max_length=35), AfterValidator(_check_language)]
IgnoredSender = Annotated[str, StringConstraints(max_length=320), AfterValidator(_check_ignored_sender)]
IgnoredSenders = Annotated[list[IgnoredSender], Field(max_length=MAX_IGNORED_SENDERS)]
CaCertificate = Annotated[
    str, StringConstraints(max_length=MAX_CA_CERTIFICATE_LENGTH), AfterValidator(_check_ca_certificate)
]
RowId = Annotated[int, Field(ge=1, le=POSTGRES_BIGINT_MAX)]
PollInterval = Annotated[int, Field(ge=1, le=86400)]


class OAuth2Input(BaseModel):
    """The OAuth2 client of an inbox; `client_secret` is write-only. In a PATCH, a field left out is kept
    and a field sent as null is cleared."""

    model_config = ConfigDict(extra="forbid")

    client_id: Text | None = None
    tenant_id: Text | None = Field(default=None, description="the Microsoft Entra tenant (directory); outlook only")
    client_secret: SecretStr | None = Field(default=None, description="write-only")

    _secret = field_validator("client_secret")(_check_secret)


class InboxCreate(BaseModel):
    """A new inbox as a client submits it (POST /api/v1/inboxes)."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    email: EmailAddress
    username: Text | None = Field(default=None, description="login name; defaults to `email`")
    password: SecretStr | None = Field(default=None, description="write-only; required when auth is `password`")
    hostname: Hostname | None = Field(default=None, description="fixed by the provider; required for `custom`")
    port: Port | None = Field(default=None, description="fixed by the provider; required for `custom`")
    directory: Directory = "INBOX"
    encryption: Encryption | None = Field(default=None, description="fixed by the provider; `custom`: default ssl")
    ca_certificate: CaCertificate | None = Field(default=None, description="PEM; trust this CA for this server")
    auth: AuthMethod = AuthMethod.PASSWORD
    oauth2: OAuth2Input | None = None
    processed_action: ProcessedAction = ProcessedAction.MARK_READ
    unmatched_action: UnmatchedAction = UnmatchedAction.CREATE_ISSUE
    ignored_senders: IgnoredSenders = Field(default_factory=list)
    default_language: Language | None = Field(default=None, description="ISO 639-1 code")
    issue_type_id: RowId | None = None
    assigned_user_id: RowId | None = None
    assigned_organisation_id: RowId | None = None
    active: bool = True
    poll_interval_seconds: PollInterval = 60
    first_fetch: FirstFetch = FirstFetch.UNREAD

    _password = field_validator("password")(_check_secret)


class InboxPatch(BaseModel):
    """A change to an inbox (PATCH /api/v1/inboxes/{id}): only the fields sent change.

    A secret left out is kept; `"password": null` (or `oauth2.client_secret: null`) clears it.
    `"oauth2": null` clears the whole OAuth2 client. Nullable settings (ca_certificate,
    default_language, the ids) are cleared by null; the others refuse null.
    """

    model_config = ConfigDict(extra="forbid")

    provider: Provider | None = None
    email: EmailAddress | None = None
    username: Text | None = None
    password: SecretStr | None = Field(default=None, description="write-only; null clears it")
    hostname: Hostname | None = None
    port: Port | None = None
    directory: Directory | None = None
    encryption: Encryption | None = None
    ca_certificate: CaCertificate | None = None
    auth: AuthMethod | None = None
    oauth2: OAuth2Input | None = None
    processed_action: ProcessedAction | None = None
    unmatched_action: UnmatchedAction | None = None
    ignored_senders: IgnoredSenders | None = None
    default_language: Language | None = None
    issue_type_id: RowId | None = None
    assigned_user_id: RowId | None = None
    assigned_organisation_id: RowId | None = None
    active: bool | None = None
    poll_interval_seconds: PollInterval | None = None
    first_fetch: FirstFetch | None = None

    _password = field_validator("password")(_check_secret)
