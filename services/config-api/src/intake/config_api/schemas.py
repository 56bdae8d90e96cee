"""The JSON shapes of the HTTP API (DESIGN §3); the inbox requests are in inbox_requests.py, the email log's in
email_log_schemas.py.

Response models never have a field for a secret: only `password_set` / `client_secret_set` booleans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intake.config_api.connection_diagnosis import Stage
from intake.config_api.inbox_requests import EMAIL_PATTERN, SINGLE_LINE
from intake.config_api.inbox_settings import AuthMethod, StatusState
from intake.config_api.providers import Provider
from intake.shared.inbox_vocabulary import Encryption, FirstFetch, ProcessedAction, UnmatchedAction

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list, newest first; pass `next_cursor` as `cursor` for the next page (null: no more)."""

    items: list[Item]
    next_cursor: str | None


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=SINGLE_LINE)]
OptionalEmail = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320, pattern=EMAIL_PATTERN)
]


class IssueTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class IssueTypeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None


class IssueType(BaseModel):
    id: int
    name: str
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    email: OptionalEmail | None = None


class UserUpdate(BaseModel):
    """Only the fields sent change; `email: null` clears the address."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: OptionalEmail | None = None


class User(BaseModel):
    id: int
    name: str
    email: str | None
    created_at: datetime


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class OrganisationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None


class Organisation(BaseModel):
    id: int
    name: str
    created_at: datetime


class Language(BaseModel):
    code: str = Field(description="ISO 639-1")
    name: str


class ProviderPreset(BaseModel):
    """A provider and what it fixes: for a named provider hostname, port and encryption cannot be changed."""

    provider: Provider
    name: str
    hostname: str | None
    port: int | None
    encryption: Encryption
    editable: bool = Field(description="whether hostname, port and encryption may be chosen (only `custom`)")
    requires_oauth2: bool
    requires_tenant: bool = Field(description="OAuth2 needs `oauth2.tenant_id` (Microsoft)")


class OAuth2Out(BaseModel):
    client_id: str | None
    tenant_id: str | None


class InboxStatus(BaseModel):
    """Health of an inbox, from the owning fetcher's last `inbox.status` report.

    `disabled` while the inbox is inactive; `unknown` (no times, 0 failures) while active and not yet
    reported on.
    """

    state: StatusState
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    push: bool | None = Field(description="whether the server pushes new mail (IMAP IDLE); null: not known")
    reported_at: datetime | None


class Inbox(BaseModel):
    id: int
    provider: Provider
    email: str
    username: str
    password_set: bool
    hostname: str
    port: int
    directory: str
    encryption: Encryption
    ca_certificate: str | None
    auth: AuthMethod
    oauth2: OAuth2Out
    client_secret_set: bool
    processed_action: ProcessedAction
    unmatched_action: UnmatchedAction
    ignored_senders: list[str]
    default_language: str | None
    issue_type_id: int | None
    assigned_user_id: int | None
    assigned_organisation_id: int | None
    active: bool
    poll_interval_seconds: int
    first_fetch: FirstFetch
    status: InboxStatus
    created_at: datetime
    updated_at: datetime


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="what the token is for, e.g. the program that uses it")


class ApiToken(BaseModel):
    """An issued API token without its secret; `prefix` is its first characters, to tell tokens apart."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute; null: never used")


class NewApiToken(ApiToken):
    """The token just created; `token` is shown this once and never again (only its hash is stored)."""

    token: str


class ConnectionTestResult(BaseModel):
    """The Test connection answer: `ok`, the last step tried (`connect`, `tls`, `login`, `select`), and why."""

    ok: bool
    stage: Stage
    detail: str


class Person(BaseModel):
    email: str | None
    name: str | None


class Attachment(BaseModel):
    id: int
    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    inline: bool
    content_id: str | None


class Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    message_id: str | None
    from_: Person = Field(alias="from")
    to: list[str]
    cc: list[str]
    subject: str | None
    date: datetime | None
    body_text: str | None
    attachments: list[Attachment]


class IssueSummary(BaseModel):
    """An issue without its messages: the items of GET /api/v1/issues."""

    number: int
    title: str
    status: str
    issue_type_id: int | None
    language: str | None
    assigned_user_id: int | None
    assigned_organisation_id: int | None
    requester: Person
    inbox_id: int | None
    created_at: datetime
    updated_at: datetime


class Issue(IssueSummary):
    """An issue with its messages, oldest first, each with its attachments."""

    messages: list[Message]
