"""An inbox as stored (DESIGN §1): its settings (`InboxSettings`, whose fields are the one list of inbox
setting names, `SETTINGS_FIELDS`), whether its secrets are set, and the health state it shows.

Pure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from intake.config_api.providers import Provider
from intake.shared.inbox_vocabulary import Encryption, FirstFetch, ProcessedAction, UnmatchedAction


class AuthMethod(StrEnum):
    PASSWORD = "password"  # noqa: S105 -- the name of an auth method, not a password
    OAUTH2 = "oauth2"


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


# Every setting of an inbox, in the order of InboxSettings: the columns of config.inboxes that hold them.
SETTINGS_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(InboxSettings))


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
