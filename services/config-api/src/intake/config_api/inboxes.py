"""What an inbox is and the rules its settings follow (DESIGN §1): request shapes, presets, cross-field checks.

Pure: `resolve_create` and `resolve_patch` turn a validated request (and, for a patch, the stored
inbox) into the values to store, or into every field error found, each with its own message.
Checking that referenced ids exist, encrypting secrets and writing the row belong to the caller.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal

from cryptography import x509
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator

from intake.config_api.errors import FieldError
from intake.config_api.languages import normalise_language
from intake.config_api.providers import CUSTOM_DEFAULT_ENCRYPTION, Provider, preset_for
from intake.shared.inbox_vocabulary import Encryption, FirstFetch, ProcessedAction, UnmatchedAction

MAX_SECRET_LENGTH = 4096
MAX_CA_CERTIFICATE_LENGTH = 200_000
MAX_IGNORED_SENDERS = 1000
POSTGRES_BIGINT_MAX = 2**63 - 1


class AuthMethod(StrEnum):
    PASSWORD = "password"  # noqa: S105 -- the name of an auth method, not a password
    OAUTH2 = "oauth2"


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


# PATCH fields for which null means "clear"; for hostname, port and encryption null means "from the preset".
_NULLABLE = frozenset(
    {
        "password",
        "ca_certificate",
        "oauth2",
        "default_language",
        "issue_type_id",
        "assigned_user_id",
        "assigned_organisation_id",
        "hostname",
        "port",
        "encryption",
    }
)


class Unchanged(Enum):
    """A secret the request did not mention: the stored one stays."""

    KEEP = "keep"


KEEP = Unchanged.KEEP
SecretChange = SecretStr | None | Unchanged


@dataclass(frozen=True)
class InboxSettings:
    """Every stored, non-secret setting of an inbox, presets applied."""

    provider: Provider
    email: str
    username: str
    hostname: str
    port: int
    directory: str
    encryption: Encryption
    ca_certificate: str | None
    auth: AuthMethod
    oauth2_client_id: str | None
    oauth2_tenant_id: str | None
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


@dataclass(frozen=True)
class StoredInbox:
    """An inbox as stored: its settings and whether each secret is set (the secrets themselves stay put)."""

    settings: InboxSettings
    password_set: bool
    client_secret_set: bool


@dataclass(frozen=True)
class ResolvedInbox:
    """What to store: the settings, and per secret its new plain value (in SecretStr), None to clear, or KEEP.

    `drop_refresh_token`: the stored OAuth2 grant was given for another server or client and must go.
    """

    settings: InboxSettings
    password: SecretChange
    client_secret: SecretChange
    drop_refresh_token: bool = False


@dataclass(frozen=True)
class _Draft:
    """The settings before the preset and the cross-field rules; server fields may still be missing."""

    provider: Provider
    email: str
    username: str | None
    hostname: str | None
    port: int | None
    directory: str
    encryption: Encryption | None
    ca_certificate: str | None
    auth: AuthMethod
    oauth2_client_id: str | None
    oauth2_tenant_id: str | None
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


def _loc(*path: str) -> tuple[str, ...]:
    return ("body", *path)


_SERVER_FIELDS = ("hostname", "port", "encryption")
# Who receives the login: change any of these and a stored password would go to another party.
SERVER_IDENTITY = ("provider", "hostname", "port", "encryption", "ca_certificate", "username")
# Who receives the OAuth2 client secret and refresh token (the provider's token endpoint, per tenant).
OAUTH2_CLIENT_IDENTITY = ("provider", "oauth2_client_id", "oauth2_tenant_id")


def _changed(before: InboxSettings, after: InboxSettings, names: tuple[str, ...]) -> list[str]:
    """The fields among `names` that differ, named as in a request (`oauth2.client_id`)."""
    return [name.replace("oauth2_", "oauth2.", 1) for name in names if getattr(before, name) != getattr(after, name)]


def _secret_rebinding(
    stored: StoredInbox, settings: InboxSettings, password: SecretChange, client_secret: SecretChange
) -> tuple[list[FieldError], bool]:
    """The errors for stored secrets that a patch would send to another party, and whether the grant must go.

    A stored password is kept across a change of the server (provider, hostname, port, encryption,
    ca_certificate, username) only if the same PATCH sends it again (or clears it): else an API
    client could point the inbox at its own server and receive the password at the next login. The
    OAuth2 client secret likewise, across a change of provider, client_id or tenant_id. The stored
    refresh token is dropped on any of these changes: it was granted for the old server and client
    (the inbox is connected again through the consent page).
    """
    errors: list[FieldError] = []
    server = _changed(stored.settings, settings, SERVER_IDENTITY)
    client = _changed(stored.settings, settings, OAUTH2_CLIENT_IDENTITY)
    if server and stored.password_set and password is KEEP:
        errors.append(
            FieldError(
                _loc("password"),
                f"re-enter the password when changing the server ({', '.join(server)}), or send null to clear it",
                "secret_required",
            )
        )
    if client and stored.client_secret_set and client_secret is KEEP:
        errors.append(
            FieldError(
                _loc("oauth2", "client_secret"),
                f"re-enter the client secret when changing the OAuth2 client ({', '.join(client)}), "
                "or send null to clear it",
                "secret_required",
            )
        )
    return errors, bool(server or client)


def _resolve(draft: _Draft, given: frozenset[str], *, has_password: bool) -> InboxSettings | list[FieldError]:
    """Apply the provider preset and the rules that span fields.

    `given`: the server fields the client sent; a named provider's fixed value may be sent only unchanged.
    `has_password`: whether the inbox will have a password after this request.
    """
    errors: list[FieldError] = []
    preset = preset_for(draft.provider)
    hostname, port, encryption = draft.hostname, draft.port, draft.encryption
    if preset is not None:
        fixed = {"hostname": preset.hostname, "port": preset.port, "encryption": preset.encryption}
        for name in _SERVER_FIELDS:
            if name in given and getattr(draft, name) not in (None, fixed[name]):
                errors.append(
                    FieldError(
                        _loc(name),
                        f"is fixed to {fixed[name]!s} for provider '{draft.provider.value}'; "
                        "use provider 'custom' to choose another",
                        "fixed_by_provider",
                    )
                )
        hostname, port, encryption = preset.hostname, preset.port, preset.encryption
    else:
        if hostname is None:
            errors.append(FieldError(_loc("hostname"), "required when provider is 'custom'", "missing"))
        if port is None:
            errors.append(FieldError(_loc("port"), "required when provider is 'custom'", "missing"))
        encryption = encryption or CUSTOM_DEFAULT_ENCRYPTION
    if draft.auth is AuthMethod.OAUTH2:
        if draft.oauth2_client_id is None:
            errors.append(FieldError(_loc("oauth2", "client_id"), "required when auth is 'oauth2'", "missing"))
        if preset is not None and preset.requires_tenant and draft.oauth2_tenant_id is None:
            errors.append(
                FieldError(
                    _loc("oauth2", "tenant_id"),
                    f"required for provider '{draft.provider.value}' with auth 'oauth2' (the Microsoft tenant)",
                    "missing",
                )
            )
    else:
        if preset is not None and preset.requires_oauth2:
            errors.append(FieldError(_loc("auth"), f"{draft.provider.value} accepts only OAuth2 sign-in ('oauth2')"))
        if not has_password:
            errors.append(FieldError(_loc("password"), "required when auth is 'password'", "missing"))
    if errors:
        return errors
    assert hostname is not None
    assert port is not None
    values = {f.name: getattr(draft, f.name) for f in dataclasses.fields(_Draft)}
    values.update(hostname=hostname, port=port, encryption=encryption, username=draft.username or draft.email)
    return InboxSettings(**values)


def resolve_create(request: InboxCreate) -> ResolvedInbox | list[FieldError]:
    """The inbox to create from `request`, or every field error found."""
    oauth2 = request.oauth2 or OAuth2Input()
    draft = _Draft(
        provider=request.provider,
        email=request.email,
        username=request.username,
        hostname=request.hostname,
        port=request.port,
        directory=request.directory,
        encryption=request.encryption,
        ca_certificate=request.ca_certificate,
        auth=request.auth,
        oauth2_client_id=oauth2.client_id,
        oauth2_tenant_id=oauth2.tenant_id,
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
    given = frozenset(name for name in _SERVER_FIELDS if getattr(request, name) is not None)
    settings = _resolve(draft, given, has_password=request.password is not None)
    if isinstance(settings, list):
        return settings
    return ResolvedInbox(settings, request.password, oauth2.client_secret)


def resolve_patch(stored: StoredInbox, patch: InboxPatch) -> ResolvedInbox | list[FieldError]:
    """The inbox after applying `patch` to `stored`, or every field error found.

    Only the fields the client sent change. A secret not sent is KEEP; a secret sent as null is cleared.
    A stored secret is never kept across a change of who would receive it (see `_secret_rebinding`).
    """
    sent = patch.model_fields_set
    errors = [
        FieldError(_loc(name), "must not be null", "null")
        for name in sorted(sent - _NULLABLE)
        if getattr(patch, name) is None
    ]
    changes: dict[str, Any] = {
        name: getattr(patch, name)
        for name in sent
        if name not in ("password", "oauth2") and (getattr(patch, name) is not None or name in _NULLABLE)
    }
    if "ignored_senders" in changes:
        changes["ignored_senders"] = tuple(dict.fromkeys(changes["ignored_senders"]))
    client_secret: SecretChange = KEEP
    if "oauth2" in sent:
        if patch.oauth2 is None:
            changes.update(oauth2_client_id=None, oauth2_tenant_id=None)
            client_secret = None
        else:
            oauth2_sent = patch.oauth2.model_fields_set
            if "client_id" in oauth2_sent:
                changes["oauth2_client_id"] = patch.oauth2.client_id
            if "tenant_id" in oauth2_sent:
                changes["oauth2_tenant_id"] = patch.oauth2.tenant_id
            if "client_secret" in oauth2_sent:
                client_secret = patch.oauth2.client_secret
    password: SecretChange = KEEP
    has_password = stored.password_set
    if "password" in sent:
        password = patch.password
        has_password = password is not None
    current = {f.name: getattr(stored.settings, f.name) for f in dataclasses.fields(InboxSettings)}
    draft = _Draft(**(current | changes))
    given = frozenset(name for name in _SERVER_FIELDS if changes.get(name) is not None)
    settings = _resolve(draft, given, has_password=has_password)
    if isinstance(settings, list):
        errors.extend(settings)
    if errors:
        return errors
    assert isinstance(settings, InboxSettings)
    errors, drop_refresh_token = _secret_rebinding(stored, settings, password, client_secret)
    if errors:
        return errors
    return ResolvedInbox(settings, password, client_secret, drop_refresh_token)


StatusState = Literal["unknown", "ok", "error", "needs_reauth", "disabled"]


def shown_state(active: bool, reported: str | None) -> StatusState:
    """The health state an inbox shows, from its `active` flag and the fetcher's last reported state.

    An inactive inbox is `disabled` whatever was reported. An active inbox shows its last report, and
    `unknown` before the first report, or while the last one is still the `disabled` of before it was
    switched on: never a guessed `ok`.

    >>> shown_state(False, "ok"), shown_state(True, None), shown_state(True, "disabled"), shown_state(True, "error")
    ('disabled', 'unknown', 'unknown', 'error')
    """
    if not active:
        return "disabled"
    return _REPORTED.get(reported or "", "unknown")


_REPORTED: dict[str, StatusState] = {"ok": "ok", "error": "error", "needs_reauth": "needs_reauth"}
