"""config-api's OAuth2 rows: pending consents (hashed states), the encrypted refresh token of an inbox, and the
needs_reauth mark with its config.inbox_status row.

Moves values only; secrets arrive and leave encrypted (bytes), decisions live in `oauth2.py`. Saving a
rotated refresh token does not touch `updated_at`: the fetcher restarts an inbox's loop when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intake.config_api.errors import NotFound
from intake.shared.database import Executor, Session


@dataclass(frozen=True)
class OAuth2Inbox:
    """What the token service and the connect flow need of an inbox; secrets still encrypted."""

    id: int
    provider: str
    auth: str
    email: str
    username: str
    client_id: str | None
    tenant_id: str | None
    client_secret_encrypted: bytes | None
    refresh_token_encrypted: bytes | None
    reauth_reason: str | None
    reauth_since: datetime | None
    updated_at: datetime

    @property
    def needs_reauth(self) -> bool:
        """Marked as needing a person, and not edited since (an edit, e.g. a new secret, earns one new try)."""
        return self.reauth_since is not None and self.reauth_since >= self.updated_at


_COLUMNS = """id, provider, auth, email, username, oauth2_client_id AS client_id, oauth2_tenant_id AS tenant_id,
    oauth2_client_secret_encrypted AS client_secret_encrypted,
    oauth2_refresh_token_encrypted AS refresh_token_encrypted,
    oauth2_reauth_reason AS reauth_reason, oauth2_reauth_since AS reauth_since, updated_at"""


def _inbox(row: asyncpg.Record) -> OAuth2Inbox:
    values = dict(row)
    for key in ("client_secret_encrypted", "refresh_token_encrypted"):
        values[key] = bytes(values[key]) if values[key] is not None else None
    return OAuth2Inbox(**values)


async def get_inbox(conn: Executor, inbox_id: int) -> OAuth2Inbox:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM config.inboxes WHERE id = $1", inbox_id)
    if row is None:
        raise NotFound(f"no inbox with id {inbox_id}")
    return _inbox(row)


async def lock_inbox_tokens(conn: Session, inbox_id: int) -> None:
    """Serialise token refreshes of one inbox across config-api replicas until the transaction ends.

    With rotating refresh tokens two concurrent refreshes would spend the same token twice, and the
    second would be refused as invalid_grant.
    """
    # The two-int form keeps this namespace apart from the ingestor's one-bigint keys. An inbox id is a bigint:
    # it is folded into int4 (ids 2^32 apart share a lock, which only serialises them), never cast (that overflows).
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('intake.oauth2.refresh'),"
        " (($1::bigint % 4294967296) - 2147483648)::int)",
        inbox_id,
    )


async def save_refresh_token(conn: Executor, inbox_id: int, encrypted: bytes) -> None:
    """Store a rotated refresh token (encrypted); the inbox's settings and `updated_at` stay as they are."""
    await conn.execute(
        "UPDATE config.inboxes SET oauth2_refresh_token_encrypted = $2 WHERE id = $1", inbox_id, encrypted
    )


async def mark_needs_reauth(conn: Executor, inbox_id: int, reason: str) -> None:
    """Remember that the grant is dead and show it as the inbox's health (`needs_reauth`, the reason in words)."""
    await conn.execute(
        """WITH marked AS (
               UPDATE config.inboxes SET oauth2_reauth_reason = $2, oauth2_reauth_since = now()
               WHERE id = $1 RETURNING id)
           INSERT INTO config.inbox_status AS s (inbox_id, state, last_error, consecutive_failures, reported_at)
           SELECT id, 'needs_reauth', $2, 1, now() FROM marked
           ON CONFLICT (inbox_id) DO UPDATE
               SET state = 'needs_reauth', last_error = EXCLUDED.last_error,
                   consecutive_failures = s.consecutive_failures + 1,
                   reported_at = greatest(s.reported_at, EXCLUDED.reported_at), updated_at = now()""",
        inbox_id,
        reason,
    )


async def save_connected_grant(conn: Session, inbox_id: int, refresh_token_encrypted: bytes) -> None:
    """A completed consent: the new refresh token, the needs_reauth mark and health row cleared.

    `updated_at` moves, so the fetcher restarts the inbox's loop with the new grant at once.
    """
    async with conn.transaction():
        await conn.execute(
            """UPDATE config.inboxes SET oauth2_refresh_token_encrypted = $2, oauth2_reauth_reason = NULL,
                      oauth2_reauth_since = NULL, updated_at = now()
               WHERE id = $1""",
            inbox_id,
            refresh_token_encrypted,
        )
        # Health is unknown again until the fetcher reports; a stale needs_reauth must not linger.
        await conn.execute("DELETE FROM config.inbox_status WHERE inbox_id = $1 AND state = 'needs_reauth'", inbox_id)


@dataclass(frozen=True)
class PendingConsent:
    """A stored state: which inbox it is for, its PKCE verifier (encrypted), and whether it is still usable."""

    inbox_id: int
    code_verifier_encrypted: bytes
    redirect_url: str
    expires_at: datetime
    used: bool


async def save_state(
    conn: Executor,
    *,
    state_sha256: bytes,
    inbox_id: int,
    code_verifier_encrypted: bytes,
    redirect_url: str,
    ttl_seconds: int,
) -> None:
    """Store a new consent's state (hashed), and drop states that expired more than a day ago."""
    await conn.execute("DELETE FROM config.oauth2_states WHERE expires_at < now() - interval '1 day'")
    await conn.execute(
        """INSERT INTO config.oauth2_states (state_sha256, inbox_id, code_verifier_encrypted, redirect_url, expires_at)
           VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))""",
        state_sha256,
        inbox_id,
        code_verifier_encrypted,
        redirect_url,
        float(ttl_seconds),
    )


async def use_state(conn: Executor, state_sha256: bytes) -> tuple[PendingConsent | None, datetime]:
    """Spend a state: mark it used (once; a second call sees `used`), and return it with the database's now."""
    row = await conn.fetchrow(
        """WITH old AS (
               SELECT state_sha256, used_at FROM config.oauth2_states WHERE state_sha256 = $1 FOR UPDATE),
           spent AS (
               UPDATE config.oauth2_states s SET used_at = now() FROM old
               WHERE s.state_sha256 = old.state_sha256 AND old.used_at IS NULL AND s.expires_at > now()
               RETURNING s.state_sha256)
           SELECT s.inbox_id, s.code_verifier_encrypted, s.redirect_url, s.expires_at,
                  old.used_at IS NOT NULL AS used, now() AS now
           FROM config.oauth2_states s JOIN old USING (state_sha256)""",
        state_sha256,
    )
    if row is None:
        now = await conn.fetchval("SELECT now()")
        return None, now
    consent = PendingConsent(
        row["inbox_id"], bytes(row["code_verifier_encrypted"]), row["redirect_url"], row["expires_at"], row["used"]
    )
    return consent, row["now"]
