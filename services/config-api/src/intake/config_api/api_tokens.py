"""Issued API tokens in `config.api_tokens`: create (the token is returned once), list, revoke, look up.

Stores and compares only SHA-256 digests; a token's secret is never read back, listed or logged.
"""

from __future__ import annotations

import asyncpg

from intake.config_api.auth import issue_token, may_be_issued_token, token_digest
from intake.config_api.cursors import Position, next_cursor
from intake.config_api.errors import NotFound
from intake.config_api.schemas import ApiToken, NewApiToken, Page
from intake.shared.database import Executor

_COLUMNS = "id, name, prefix, created_at, last_used_at"


async def create_token(conn: Executor, name: str) -> NewApiToken:
    issued = issue_token()
    row = await conn.fetchrow(
        f"INSERT INTO config.api_tokens (name, prefix, token_sha256) VALUES ($1, $2, $3) RETURNING {_COLUMNS}",
        name,
        issued.prefix,
        issued.digest,
    )
    assert row is not None
    return NewApiToken(**dict(row), token=issued.token)


async def list_tokens(conn: Executor, after: Position | None, limit: int) -> Page[ApiToken]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM config.api_tokens WHERE id > $1 ORDER BY id LIMIT $2",
        after.id if after else 0,
        limit + 1,
    )
    positions = [Position(row["created_at"], row["id"]) for row in rows]
    return Page(items=[ApiToken(**dict(row)) for row in rows[:limit]], next_cursor=next_cursor(positions, limit))


async def revoke_token(conn: Executor, token_id: int) -> None:
    """Delete the token: from now on it is refused. NotFound if there is none."""
    if await conn.fetchval("DELETE FROM config.api_tokens WHERE id = $1 RETURNING id", token_id) is None:
        raise NotFound(f"no API token with id {token_id}")


async def authenticate(pool: asyncpg.Pool, presented: str) -> int | None:
    """The id of the issued token `presented`, or None; notes its use at most once a minute."""
    if not may_be_issued_token(presented):
        return None
    token_id: int | None = await pool.fetchval(
        "SELECT id FROM config.api_tokens WHERE token_sha256 = $1", token_digest(presented)
    )
    if token_id is not None:
        # At most one write a minute per token, not one per request.
        await pool.execute(
            """UPDATE config.api_tokens SET last_used_at = now()
               WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')""",
            token_id,
        )
    return token_id
