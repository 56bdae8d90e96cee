"""Reading and writing config-api's own tables in schema `config`: issue types and inboxes.

Only moves values between PostgreSQL and the API's shapes; secrets arrive here already encrypted and
never leave except as `*_set` booleans.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from intake.config_api.errors import Conflict, FieldError, InvalidFields, NotFound
from intake.config_api.inboxes import NewInbox, status_state
from intake.config_api.schemas import Inbox, InboxStatus, IssueType, OAuth2Out

# The foreign keys of config.inboxes (PostgreSQL's default names) and the request field each one checks.
_INBOX_FOREIGN_KEYS = {
    "inboxes_issue_type_id_fkey": "issue_type_id",
    "inboxes_assigned_user_id_fkey": "assigned_user_id",
    "inboxes_assigned_organisation_id_fkey": "assigned_organisation_id",
}

_INBOX_COLUMNS = """
    id, provider, email, username, password_encrypted IS NOT NULL AS password_set, hostname, port, directory,
    encryption, ca_certificate, auth, oauth2_client_id, oauth2_tenant_id,
    oauth2_client_secret_encrypted IS NOT NULL AS client_secret_set, processed_action, unmatched_action,
    ignored_senders, default_language, issue_type_id, assigned_user_id, assigned_organisation_id, active,
    poll_interval_seconds, first_fetch, created_at, updated_at"""


async def list_issue_types(conn: asyncpg.Connection | asyncpg.Pool) -> list[IssueType]:
    rows = await conn.fetch("SELECT id, name, created_at FROM config.issue_types ORDER BY id")
    return [IssueType(**dict(row)) for row in rows]


async def create_issue_type(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> IssueType:
    """Store a new issue type; a name already taken is a Conflict."""
    row = await conn.fetchrow(
        """INSERT INTO config.issue_types (name) VALUES ($1)
           ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at""",
        name,
    )
    if row is None:
        raise Conflict(f"an issue type named {name!r} already exists")
    return IssueType(**dict(row))


def _inbox(row: asyncpg.Record) -> Inbox:
    values: dict[str, Any] = dict(row)
    values["oauth2"] = OAuth2Out(client_id=values.pop("oauth2_client_id"), tenant_id=values.pop("oauth2_tenant_id"))
    values["status"] = InboxStatus(state=status_state(values["active"]))
    return Inbox(**values)


async def create_inbox(
    conn: asyncpg.Connection | asyncpg.Pool,
    inbox: NewInbox,
    *,
    password_encrypted: bytes | None,
    client_secret_encrypted: bytes | None,
) -> Inbox:
    """Store a resolved inbox with its already-encrypted secrets; an unknown referenced id is InvalidFields."""
    try:
        row = await conn.fetchrow(
            f"""INSERT INTO config.inboxes (
                    provider, email, username, password_encrypted, hostname, port, directory, encryption,
                    ca_certificate, auth, oauth2_client_id, oauth2_tenant_id, oauth2_client_secret_encrypted,
                    processed_action, unmatched_action, ignored_senders, default_language, issue_type_id,
                    assigned_user_id, assigned_organisation_id, active, poll_interval_seconds, first_fetch)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                        $21, $22, $23)
                RETURNING {_INBOX_COLUMNS}""",
            inbox.provider.value,
            inbox.email,
            inbox.username,
            password_encrypted,
            inbox.hostname,
            inbox.port,
            inbox.directory,
            inbox.encryption.value,
            inbox.ca_certificate,
            inbox.auth.value,
            inbox.oauth2_client_id,
            inbox.oauth2_tenant_id,
            client_secret_encrypted,
            inbox.processed_action.value,
            inbox.unmatched_action.value,
            list(inbox.ignored_senders),
            inbox.default_language,
            inbox.issue_type_id,
            inbox.assigned_user_id,
            inbox.assigned_organisation_id,
            inbox.active,
            inbox.poll_interval_seconds,
            inbox.first_fetch.value,
        )
    except asyncpg.ForeignKeyViolationError as error:
        field = _INBOX_FOREIGN_KEYS.get(error.constraint_name or "")
        if field is None:
            raise
        raise InvalidFields([FieldError(("body", field), "no such id", "foreign_key")]) from None
    assert row is not None
    return _inbox(row)


async def list_inboxes(conn: asyncpg.Connection | asyncpg.Pool) -> list[Inbox]:
    rows = await conn.fetch(f"SELECT {_INBOX_COLUMNS} FROM config.inboxes ORDER BY id")
    return [_inbox(row) for row in rows]


async def get_inbox(conn: asyncpg.Connection | asyncpg.Pool, inbox_id: int) -> Inbox:
    row = await conn.fetchrow(f"SELECT {_INBOX_COLUMNS} FROM config.inboxes WHERE id = $1", inbox_id)
    if row is None:
        raise NotFound(f"no inbox with id {inbox_id}")
    return _inbox(row)
