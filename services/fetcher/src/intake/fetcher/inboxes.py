"""Reading inbox settings from config-api's read-only view `config.inbox_settings`.

The fetcher never writes config-api's schema. Before config-api has migrated, the view is missing:
that is `InboxesUnavailable`, a normal state at start-up, not a crash.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from intake.fetcher.errors import InboxesUnavailable
from intake.shared.database import Executor, Session
from intake.shared.imap_client import ImapEndpoint
from intake.shared.imap_error_words import Attempt
from intake.shared.inbox_vocabulary import Encryption, FirstFetch, ProcessedAction

_COLUMNS = """id, email, username, password_encrypted, hostname, port, directory, encryption, ca_certificate,
              auth, processed_action, active, poll_interval_seconds, first_fetch, updated_at"""


@dataclass(frozen=True)
class WatchedInbox:
    """What the fetcher needs of one inbox. The password stays encrypted until a login needs it."""

    id: int
    email: str
    username: str
    password_encrypted: bytes | None = field(repr=False)
    hostname: str
    port: int
    directory: str
    encryption: Encryption
    ca_certificate: str | None = field(repr=False)
    auth: str
    processed_action: ProcessedAction
    active: bool
    poll_interval_seconds: int
    first_fetch: FirstFetch
    updated_at: datetime

    @property
    def endpoint(self) -> ImapEndpoint:
        return ImapEndpoint(self.hostname, self.port, self.encryption, self.ca_certificate)

    @property
    def attempt(self) -> Attempt:
        """What is tried when watching it, for the words of a failure (never the password)."""
        return Attempt(self.hostname, self.port, self.encryption.value, self.username, self.directory)


def _from_row(row: asyncpg.Record) -> WatchedInbox:
    password = row["password_encrypted"]
    return WatchedInbox(
        id=row["id"],
        email=row["email"],
        username=row["username"],
        password_encrypted=bytes(password) if password is not None else None,
        hostname=row["hostname"],
        port=row["port"],
        directory=row["directory"],
        encryption=Encryption(row["encryption"]),
        ca_certificate=row["ca_certificate"],
        auth=row["auth"],
        processed_action=ProcessedAction(row["processed_action"]),
        active=row["active"],
        poll_interval_seconds=row["poll_interval_seconds"],
        first_fetch=FirstFetch(row["first_fetch"]),
        updated_at=row["updated_at"],
    )


async def load_active_inboxes(pool: asyncpg.Pool) -> list[WatchedInbox]:
    """Every active inbox, by id."""
    try:
        rows = await pool.fetch(f"SELECT {_COLUMNS} FROM config.inbox_settings WHERE active ORDER BY id")
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        raise InboxesUnavailable("config.inbox_settings does not exist yet (config-api has not migrated)") from None
    return [_from_row(row) for row in rows]


async def processed_actions_of(conn: Session, inbox_ids: Collection[int]) -> dict[int, ProcessedAction]:
    """Each inbox's current processed_action; an inbox that is gone has no entry."""
    rows = await conn.fetch(
        "SELECT id, processed_action FROM config.inbox_settings WHERE id = ANY($1::bigint[])", list(inbox_ids)
    )
    return {row["id"]: ProcessedAction(row["processed_action"]) for row in rows}


async def updated_at_of(conn: Executor, inbox_id: int) -> datetime | None:
    """When the inbox's settings last changed, or None when it is gone or inactive."""
    value: datetime | None = await conn.fetchval(
        "SELECT updated_at FROM config.inbox_settings WHERE id = $1 AND active", inbox_id
    )
    return value
