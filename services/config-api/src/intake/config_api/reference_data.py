"""Reference data in schema `config`: issue types, users and organisations (create, list, get, update, delete).

One generic table gateway, described per kind by `ReferenceKind`; table and column names come only from
these constants, never from a request. Deleting a row an inbox still uses is a Conflict naming the inboxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from intake.config_api.cursors import Position, next_cursor
from intake.config_api.errors import Conflict, NotFound
from intake.shared.database import Executor, Session


@dataclass(frozen=True)
class ReferenceKind:
    """One kind of reference data: where it is stored and how the API names it."""

    table: str
    label: str  # in messages: "issue type"
    article: str  # "a" or "an", for "an issue type named ..."
    columns: tuple[str, ...]  # writable columns besides id and created_at
    inbox_column: str  # the config.inboxes column that refers to it
    unique_name: bool  # a second row with the same name is a Conflict


ISSUE_TYPES = ReferenceKind("config.issue_types", "issue type", "an", ("name",), "issue_type_id", unique_name=True)
USERS = ReferenceKind("config.users", "user", "a", ("name", "email"), "assigned_user_id", unique_name=False)
ORGANISATIONS = ReferenceKind(
    "config.organisations", "organisation", "an", ("name",), "assigned_organisation_id", unique_name=True
)


def _returning(kind: ReferenceKind) -> str:
    return ", ".join(("id", *kind.columns, "created_at"))


def _duplicate(kind: ReferenceKind, values: dict[str, Any]) -> Conflict:
    return Conflict(f"{kind.article} {kind.label} named {values.get('name')!r} already exists")


async def create(conn: Executor, kind: ReferenceKind, values: dict[str, Any]) -> dict[str, Any]:
    """Store a new row of `kind`; a name already taken (where names are unique) is a Conflict."""
    columns = [c for c in kind.columns if c in values]
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    try:
        row = await conn.fetchrow(
            f"INSERT INTO {kind.table} ({', '.join(columns)}) VALUES ({placeholders}) RETURNING {_returning(kind)}",
            *(values[c] for c in columns),
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(kind, values) from None
    assert row is not None
    return dict(row)


async def get(conn: Executor, kind: ReferenceKind, row_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(f"SELECT {_returning(kind)} FROM {kind.table} WHERE id = $1", row_id)
    if row is None:
        raise NotFound(f"no {kind.label} with id {row_id}")
    return dict(row)


async def list_page(
    conn: Executor, kind: ReferenceKind, after: Position | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows by id, oldest first, `limit` per page after the cursor's row; and the next page's cursor."""
    rows = await conn.fetch(
        f"SELECT {_returning(kind)} FROM {kind.table} WHERE id > $1 ORDER BY id LIMIT $2",
        after.id if after else 0,
        limit + 1,
    )
    positions = [Position(row["created_at"], row["id"]) for row in rows]
    return [dict(row) for row in rows[:limit]], next_cursor(positions, limit)


async def update(conn: Executor, kind: ReferenceKind, row_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given columns (an empty change returns the row as it is)."""
    columns = [c for c in kind.columns if c in changes]
    if not columns:
        return await get(conn, kind, row_id)
    assignments = ", ".join(f"{c} = ${n}" for n, c in enumerate(columns, start=2))
    try:
        row = await conn.fetchrow(
            f"UPDATE {kind.table} SET {assignments} WHERE id = $1 RETURNING {_returning(kind)}",
            row_id,
            *(changes[c] for c in columns),
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(kind, changes) from None
    if row is None:
        raise NotFound(f"no {kind.label} with id {row_id}")
    return dict(row)


async def delete(conn: Session, kind: ReferenceKind, row_id: int) -> None:
    """Delete the row; NotFound if there is none, Conflict naming the inboxes that still use it."""
    async with conn.transaction():
        # Lock the row first, so no inbox can start using it between the check and the delete.
        if await conn.fetchval(f"SELECT id FROM {kind.table} WHERE id = $1 FOR UPDATE", row_id) is None:
            raise NotFound(f"no {kind.label} with id {row_id}")
        users = await conn.fetch(
            f"SELECT id, email FROM config.inboxes WHERE {kind.inbox_column} = $1 ORDER BY id", row_id
        )
        if users:
            named = ", ".join(f"{row['id']} ({row['email']})" for row in users)
            raise Conflict(
                f"{kind.label} {row_id} is used by inbox{'es' if len(users) > 1 else ''} {named}: "
                f"change their {kind.inbox_column} first",
                inbox_ids=[row["id"] for row in users],
            )
        await conn.execute(f"DELETE FROM {kind.table} WHERE id = $1", row_id)
