"""The inbox form as values: form fields → the API's request models (InboxCreate / InboxPatch), and every
error → the field it belongs to, in words.

Pure. The rules themselves are the API's (`inbox_requests`, `inbox_resolution`): this module only
translates between the flat HTML form and the request shapes, so the form and the API can never
disagree. Secrets go into the request and never into `values` (what the form is re-rendered with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from intake.config_api.providers import Provider, preset_for
from intake.config_api.schemas import Inbox

SECRETS = ("password", "oauth2_client_secret")
SERVER_FIELDS = ("hostname", "port", "encryption")

# Every field of the form, in page order, with its label (for the error summary).
LABELS: dict[str, str] = {
    "provider": "Provider",
    "email": "Mailbox address",
    "auth": "Sign-in method",
    "username": "User name",
    "password": "Password",
    "oauth2_client_id": "OAuth2 client ID",
    "oauth2_tenant_id": "Microsoft tenant",
    "oauth2_client_secret": "OAuth2 client secret",
    "hostname": "IMAP server",
    "port": "Port",
    "encryption": "Encryption",
    "ca_certificate": "CA certificate",
    "directory": "Folder",
    "first_fetch": "First fetch",
    "processed_action": "After a message is stored",
    "unmatched_action": "A message that matches no issue",
    "ignored_senders": "Ignored senders",
    "issue_type_id": "Issue type",
    "default_language": "Language",
    "assigned_user_id": "Assigned user",
    "assigned_organisation_id": "Assigned organisation",
    "poll_interval_seconds": "Check every (seconds)",
    "active": "Active",
}

_TEXT_FIELDS = ("email", "directory", "ca_certificate", "default_language")
_CHOICE_FIELDS = ("provider", "auth", "encryption", "processed_action", "unmatched_action", "first_fetch")
_ID_FIELDS = ("issue_type_id", "assigned_user_id", "assigned_organisation_id")
_REQUIRED_TEXT = ("email", "directory")


class FormFields:
    """What a submitted form offers: a value per name (`get`) and whether a name was sent (`has`)."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self._pairs = pairs

    def get(self, name: str) -> str:
        return self._pairs.get(name, "")

    def has(self, name: str) -> bool:
        return name in self._pairs


@dataclass
class Submission:
    """A parsed form: the request body for the API, what to show again, and errors found while parsing."""

    body: dict[str, Any]
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    sender_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, entry) per list index
    shape_errors: list[dict[str, Any]] = field(default_factory=list)  # the request model's, as the API has them


def defaults(first_issue_type_id: int | None = None) -> dict[str, str]:
    """The values a new inbox's form starts with: the API's defaults, and the oldest issue type if there is one.

    The API lets an inbox have no issue type, so "None" stays a choice; but a new inbox usually wants the
    type a fresh install comes with (Support), so that is what the form offers first.

    >>> defaults(7)["issue_type_id"], defaults()["issue_type_id"]
    ('7', '')
    """
    return {
        "issue_type_id": str(first_issue_type_id or ""),
        "provider": "custom",
        "auth": "password",
        "encryption": "ssl",
        "port": "993",
        "directory": "INBOX",
        "processed_action": "mark_read",
        "unmatched_action": "create_issue",
        "first_fetch": "unread",
        "poll_interval_seconds": "60",
        "active": "1",
    }


def values_of(inbox: Inbox) -> dict[str, str]:
    """The form values of a stored inbox (no secrets: only whether each is set, shown apart)."""
    return {
        "provider": inbox.provider.value,
        "email": inbox.email,
        "username": inbox.username if inbox.username != inbox.email else "",
        "hostname": inbox.hostname,
        "port": str(inbox.port),
        "encryption": inbox.encryption.value,
        "directory": inbox.directory,
        "ca_certificate": inbox.ca_certificate or "",
        "auth": inbox.auth.value,
        "oauth2_client_id": inbox.oauth2.client_id or "",
        "oauth2_tenant_id": inbox.oauth2.tenant_id or "",
        "processed_action": inbox.processed_action.value,
        "unmatched_action": inbox.unmatched_action.value,
        "ignored_senders": "\n".join(inbox.ignored_senders),
        "default_language": inbox.default_language or "",
        "issue_type_id": str(inbox.issue_type_id or ""),
        "assigned_user_id": str(inbox.assigned_user_id or ""),
        "assigned_organisation_id": str(inbox.assigned_organisation_id or ""),
        "poll_interval_seconds": str(inbox.poll_interval_seconds),
        "first_fetch": inbox.first_fetch.value,
        "active": "1" if inbox.active else "",
    }


def with_preset(values: dict[str, str]) -> dict[str, str]:
    """`values` with a named provider's fixed server settings shown (they are what will be used)."""
    try:
        preset = preset_for(Provider(values.get("provider", "")))
    except ValueError:
        return values
    if preset is None:
        return values
    return values | {"hostname": preset.hostname, "port": str(preset.port), "encryption": preset.encryption.value}


def submission(form: FormFields, *, editing: bool) -> Submission:
    """The API request body for a submitted form (a create, or with `editing` a full PATCH of every field)."""
    values = {name: form.get(name) for name in LABELS if name not in SECRETS}
    values["active"] = "1" if form.get("active") else ""
    values["port"] = values["port"].strip()
    body: dict[str, Any] = {}
    for name in (*_TEXT_FIELDS, *_CHOICE_FIELDS):
        text = values[name]
        if name in _REQUIRED_TEXT or name in _CHOICE_FIELDS:
            body[name] = text  # an empty one is refused by the API's rules, named
        elif text.strip():
            body[name] = text
        elif editing:
            body[name] = None  # cleared (username: back to the address)
    # An empty user name means "the mailbox address" (the API's default on create).
    body["username"] = values["username"].strip() or (values["email"].strip() if editing else None) or None
    for name in _ID_FIELDS:
        if values[name]:
            body[name] = values[name]
        elif editing:
            body[name] = None
    body["poll_interval_seconds"] = values["poll_interval_seconds"].strip() or None
    body["active"] = bool(values["active"])
    if _named_provider(values["provider"]):
        # A named provider fixes the server: the form's (possibly stale, no-JS) values are not sent.
        for name in SERVER_FIELDS:
            if editing:
                body[name] = None
            else:
                body.pop(name, None)
    else:
        body["hostname"] = form.get("hostname").strip() or None
        body["port"] = values["port"] or None
    _secrets(form, body, editing=editing)
    lines = _sender_lines(values["ignored_senders"])
    body["ignored_senders"] = [entry for _, entry in lines]
    if not editing:
        body = {k: v for k, v in body.items() if v is not None}
    return Submission(body, values, sender_lines=lines)


def _named_provider(provider: str) -> bool:
    try:
        return preset_for(Provider(provider)) is not None
    except ValueError:
        return False


def _secrets(form: FormFields, body: dict[str, Any], *, editing: bool) -> None:
    password = form.get("password")
    if password:
        body["password"] = password
    elif editing and form.get("password_clear"):
        body["password"] = None
    oauth2: dict[str, Any] = {
        "client_id": form.get("oauth2_client_id").strip() or None,
        "tenant_id": form.get("oauth2_tenant_id").strip() or None,
    }
    secret = form.get("oauth2_client_secret")
    if secret:
        oauth2["client_secret"] = secret
    elif editing and form.get("oauth2_client_secret_clear"):
        oauth2["client_secret"] = None
    if not editing:
        oauth2 = {k: v for k, v in oauth2.items() if v is not None}
    if oauth2 or editing:
        body["oauth2"] = oauth2


def _sender_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of the ignored-senders box with their line numbers.

    >>> _sender_lines("a@example.com\\n\\n  @spam.example  \\n")
    [(1, 'a@example.com'), (3, '@spam.example')]
    """
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
