"""Console sessions in `config.console_sessions`: open one after a good sign-in, find it, end it.

A session is looked up on every console request, so revoking the API token it was opened with (the
row goes with the token), changing INTAKE_ADMIN_TOKEN or reaching `expires_at` ends it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intake.config_api import api_tokens
from intake.config_api.auth import token_matches
from intake.config_api.console.session_cookies import (
    NewSession,
    admin_token_mac,
    new_session,
    session_digest,
    token_equal,
)


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in person: `who` says with which token (the admin token, or an API token's name and prefix)."""

    session_id: str
    who: str
    expires_at: datetime
    csrf_token: str


async def sign_in(pool: asyncpg.Pool, key: bytes, admin_token: str, presented: str, minutes: int) -> NewSession | None:
    """A new session for `presented` if it is the admin token or a live API token, else None."""
    token_id: int | None = None
    admin_mac: bytes | None = None
    if token_matches(presented, admin_token):
        admin_mac = admin_token_mac(key, admin_token)
    else:
        token_id = await api_tokens.authenticate(pool, presented)
        if token_id is None:
            return None
    session = new_session(key)
    async with pool.acquire() as conn, conn.transaction():
        # Expired rows are swept here: signing in is rare enough, and no reader ever trusts an expired row.
        await conn.execute("DELETE FROM config.console_sessions WHERE expires_at < now()")
        await conn.execute(
            """INSERT INTO config.console_sessions (session_sha256, api_token_id, admin_token_mac, expires_at)
               VALUES ($1, $2, $3, now() + make_interval(mins => $4))""",
            session.session_sha256,
            token_id,
            admin_mac,
            minutes,
        )
    return session


async def find(pool: asyncpg.Pool, key: bytes, admin_token: str, session_id: str) -> tuple[str, datetime] | None:
    """(who, expires_at) of a live session, or None when it is unknown, expired or its token is gone."""
    row = await pool.fetchrow(
        """SELECT s.admin_token_mac, s.expires_at, t.name, t.prefix
           FROM config.console_sessions s LEFT JOIN config.api_tokens t ON t.id = s.api_token_id
           WHERE s.session_sha256 = $1 AND s.expires_at > now()""",
        session_digest(session_id),
    )
    if row is None:
        return None
    if row["admin_token_mac"] is not None:
        expected = admin_token_mac(key, admin_token)
        if not token_equal(bytes(row["admin_token_mac"]).hex(), expected.hex()):
            return None  # INTAKE_ADMIN_TOKEN changed since this session began
        return "the admin token", row["expires_at"]
    return f"API token “{row['name']}” ({row['prefix']}…)", row["expires_at"]


async def sign_out(pool: asyncpg.Pool, session_id: str) -> None:
    await pool.execute("DELETE FROM config.console_sessions WHERE session_sha256 = $1", session_digest(session_id))
