"""Reading and writing inboxes in `config.inboxes`, with their health from `config.inbox_status`.

Only moves values between PostgreSQL and the API's shapes; secrets arrive here already encrypted and
never leave except as `*_set` booleans.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, get_origin, get_type_hints

import asyncpg

from intake.config_api.cursors import Position, next_cursor
from intake.config_api.errors import FieldError, InvalidFields, NotFound
from intake.config_api.inbox_resolution import KEEP, Unchanged
from intake.config_api.inbox_settings import SETTINGS_FIELDS, InboxSettings, StoredInbox, shown_state
from intake.config_api.schemas import Inbox, InboxStatus, OAuth2Out, Page
from intake.shared.database import Executor, Session

# An encrypted secret to store, None to clear it, or KEEP to leave the stored one.
EncryptedChange = bytes | None | Unchanged

# The reference columns of config.inboxes, the table each names, and the message for an unknown id.
_REFERENCES = {
    "issue_type_id": "config.issue_types",
    "assigned_user_id": "config.users",
    "assigned_organisation_id": "config.organisations",
}
# The foreign keys of config.inboxes (PostgreSQL's default names) and the field each one checks.
_INBOX_FOREIGN_KEYS = {f"inboxes_{column}_fkey": column for column in _REFERENCES}


def _from_column(setting_type: Any) -> Callable[[Any], Any]:
    """How a stored value becomes a setting of this type: an enum from its text, an array (the ignored
    senders) as a tuple, anything else as it is. `_values` is the way back."""
    if get_origin(setting_type) is tuple:
        return tuple
    if isinstance(setting_type, type) and issubclass(setting_type, Enum):
        return setting_type
    return _as_stored


def _as_stored(value: Any) -> Any:
    return value


# Per setting (SETTINGS_FIELDS), its conversion from the column's value.
_FROM_COLUMN = {name: _from_column(setting_type) for name, setting_type in get_type_hints(InboxSettings).items()}

_SELECT_INBOX = f"""
    SELECT i.id, {", ".join("i." + c for c in SETTINGS_FIELDS)},
           i.password_encrypted IS NOT NULL AS password_set,
           i.oauth2_client_secret_encrypted IS NOT NULL AS client_secret_set,
           i.created_at, i.updated_at,
           s.state AS status_state, s.last_success_at AS status_last_success_at,
           s.last_error AS status_last_error, s.consecutive_failures AS status_consecutive_failures,
           s.push AS status_push, s.reported_at AS status_reported_at
    FROM config.inboxes i LEFT JOIN config.inbox_status s ON s.inbox_id = i.id"""


def _inbox(row: asyncpg.Record) -> Inbox:
    values: dict[str, Any] = dict(row)
    values["oauth2"] = OAuth2Out(client_id=values.pop("oauth2_client_id"), tenant_id=values.pop("oauth2_tenant_id"))
    reported = values.pop("status_state")
    values["status"] = InboxStatus(
        state=shown_state(values["active"], reported),
        last_success_at=values.pop("status_last_success_at"),
        last_error=values.pop("status_last_error"),
        consecutive_failures=values.pop("status_consecutive_failures") or 0,
        push=values.pop("status_push"),
        reported_at=values.pop("status_reported_at"),
    )
    return Inbox(**values)


def _stored(row: asyncpg.Record) -> StoredInbox:
    settings = InboxSettings(**{name: _FROM_COLUMN[name](row[name]) for name in SETTINGS_FIELDS})
    return StoredInbox(settings, password_set=row["password_set"], client_secret_set=row["client_secret_set"])


def _values(settings: InboxSettings) -> list[Any]:
    values = []
    for column in SETTINGS_FIELDS:
        value = getattr(settings, column)
        if isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "value"):
            value = value.value
        values.append(value)
    return values


async def check_references(conn: Executor, settings: InboxSettings) -> None:
    """InvalidFields naming every referenced id (issue type, user, organisation) that does not exist."""
    errors = []
    for column, table in _REFERENCES.items():
        row_id = getattr(settings, column)
        if row_id is not None and not await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)", row_id
        ):
            errors.append(FieldError(("body", column), f"no such id: {row_id}", "foreign_key"))
    if errors:
        raise InvalidFields(errors)


def _foreign_key_error(error: asyncpg.ForeignKeyViolationError) -> InvalidFields:
    # Only when the referenced row was deleted between check_references and the write.
    field = _INBOX_FOREIGN_KEYS.get(error.constraint_name or "")
    if field is None:
        raise error
    return InvalidFields([FieldError(("body", field), "no such id", "foreign_key")])


async def create_inbox(
    conn: Executor, settings: InboxSettings, *, password: bytes | None, client_secret: bytes | None
) -> int:
    """Store a new inbox with its already-encrypted secrets; returns its id."""
    columns = [*SETTINGS_FIELDS, "password_encrypted", "oauth2_client_secret_encrypted"]
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    try:
        inbox_id: int = await conn.fetchval(
            f"INSERT INTO config.inboxes ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
            *_values(settings),
            password,
            client_secret,
        )
    except asyncpg.ForeignKeyViolationError as error:
        raise _foreign_key_error(error) from None
    return inbox_id


async def load_for_update(conn: Session, inbox_id: int) -> StoredInbox:
    """The stored inbox, its row locked until the caller's transaction ends; NotFound if there is none."""
    row = await conn.fetchrow(
        f"""SELECT {", ".join(SETTINGS_FIELDS)},
                   password_encrypted IS NOT NULL AS password_set,
                   oauth2_client_secret_encrypted IS NOT NULL AS client_secret_set
            FROM config.inboxes WHERE id = $1 FOR UPDATE""",
        inbox_id,
    )
    if row is None:
        raise NotFound(f"no inbox with id {inbox_id}")
    return _stored(row)


async def update_inbox(
    conn: Session,
    inbox_id: int,
    settings: InboxSettings,
    *,
    password: EncryptedChange,
    client_secret: EncryptedChange,
    drop_refresh_token: bool = False,
) -> None:
    """Write every setting of the inbox; each secret is replaced, cleared (None) or left (KEEP).

    `drop_refresh_token` clears the stored OAuth2 grant (it was given for another server or client).
    """
    assignments = [f"{column} = ${n}" for n, column in enumerate(SETTINGS_FIELDS, start=2)]
    values: list[Any] = [inbox_id, *_values(settings)]
    for column, change in (("password_encrypted", password), ("oauth2_client_secret_encrypted", client_secret)):
        if change is not KEEP:
            values.append(change)
            assignments.append(f"{column} = ${len(values)}")
    if drop_refresh_token:
        assignments.append("oauth2_refresh_token_encrypted = NULL")
    try:
        await conn.execute(
            f"UPDATE config.inboxes SET {', '.join(assignments)}, updated_at = now() WHERE id = $1", *values
        )
    except asyncpg.ForeignKeyViolationError as error:
        raise _foreign_key_error(error) from None


async def delete_inbox(conn: Executor, inbox_id: int) -> None:
    """Delete the inbox (its health row goes with it); NotFound if there is none. Email log rows stay."""
    deleted = await conn.fetchval("DELETE FROM config.inboxes WHERE id = $1 RETURNING id", inbox_id)
    if deleted is None:
        raise NotFound(f"no inbox with id {inbox_id}")


async def get_inbox(conn: Executor, inbox_id: int) -> Inbox:
    row = await conn.fetchrow(f"{_SELECT_INBOX} WHERE i.id = $1", inbox_id)
    if row is None:
        raise NotFound(f"no inbox with id {inbox_id}")
    return _inbox(row)


async def list_inboxes(conn: Executor, after: Position | None, limit: int) -> Page[Inbox]:
    """Inboxes by id, oldest first, `limit` per page, starting after the cursor's inbox."""
    rows = await conn.fetch(
        f"{_SELECT_INBOX} WHERE i.id > $1 ORDER BY i.id LIMIT $2", after.id if after else 0, limit + 1
    )
    positions = [Position(row["created_at"], row["id"]) for row in rows]
    return Page(items=[_inbox(row) for row in rows[:limit]], next_cursor=next_cursor(positions, limit))
