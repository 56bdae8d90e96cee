"""The rules an inbox's settings follow (DESIGN §1): presets and cross-field checks, applied to a request.

Pure: `resolve_create` and `resolve_patch` turn a validated request (and, for a patch, the stored
inbox) into the values to store, or into every field error found, each with its own message.
Checking that referenced ids exist, encrypting secrets and writing the row belong to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import SecretStr

from intake.config_api.errors import FieldError
from intake.config_api.inbox_requests import InboxCreate, InboxPatch, OAuth2Input
from intake.config_api.inbox_settings import SETTINGS_FIELDS, AuthMethod, InboxSettings, StoredInbox
from intake.config_api.providers import CUSTOM_DEFAULT_ENCRYPTION, Provider, preset_for
from intake.shared.inbox_vocabulary import Encryption, FirstFetch, ProcessedAction, UnmatchedAction

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
    """The settings before the preset and the cross-field rules; server fields may still be missing.

    The fields of InboxSettings (built from SETTINGS_FIELDS), spelled out again only for their types:
    hostname, port, encryption and username are still optional here.
    """

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
    values = {name: getattr(draft, name) for name in SETTINGS_FIELDS}
    values.update(hostname=hostname, port=port, encryption=encryption, username=draft.username or draft.email)
    return InboxSettings(**values)


def resolve_create(request: InboxCreate) -> ResolvedInbox | list[FieldError]:
    """The inbox to create from `request`, or every field error found."""
    oauth2 = request.oauth2 or OAuth2Input()
    # A create request names each setting as InboxSettings does, but for the nested OAuth2 client.
    values = {name: getattr(request, name) for name in SETTINGS_FIELDS if name in InboxCreate.model_fields}
    values.update(
        oauth2_client_id=oauth2.client_id,
        oauth2_tenant_id=oauth2.tenant_id,
        ignored_senders=tuple(dict.fromkeys(request.ignored_senders)),
    )
    draft = _Draft(**values)
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
    current = {name: getattr(stored.settings, name) for name in SETTINGS_FIELDS}
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
