"""The lease rows in PostgreSQL: this replica's heartbeat, and claiming, renewing and releasing inbox leases.

Each operation is one atomic statement (or one transaction) timed by the database clock: a claim
overwrites only an expired lease, a renewal extends only a lease still live and still ours, so two
replicas never own one inbox even when they race. What to claim or release is decided by `leases`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection

import asyncpg

from intake.fetcher.leases import Lease, Snapshot

# Expired replica rows are kept this long (for a person looking at the table), then removed.
_FORGET_REPLICAS_AFTER = "1 hour"


def new_replica_id() -> str:
    """A replica id unique per process start: host, pid and a random suffix (a restart is a new replica)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class LeaseRepository:
    """One replica's view of `fetcher.replicas` and `fetcher.leases`."""

    def __init__(self, pool: asyncpg.Pool, replica: str, lease_seconds: float) -> None:
        self.replica = replica
        self.lease_seconds = lease_seconds
        self._pool = pool

    async def renew(self) -> frozenset[int]:
        """Heartbeat and extend every lease still live and ours; the inboxes this replica still holds.

        A lease missing from the answer expired or was taken over: its loop must stop.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO fetcher.replicas (id, expires_at) VALUES ($1, now() + make_interval(secs => $2))
                   ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at""",
                self.replica,
                self.lease_seconds,
            )
            rows = await conn.fetch(
                """UPDATE fetcher.leases SET renewed_at = now(), expires_at = now() + make_interval(secs => $2)
                   WHERE owner = $1 AND expires_at > now()
                   RETURNING inbox_id""",
                self.replica,
                self.lease_seconds,
            )
        return frozenset(row["inbox_id"] for row in rows)

    async def snapshot(self, active: Collection[int]) -> Snapshot:
        """Live replicas and every lease, as of now; forgets expired leases of inactive inboxes on the way."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM fetcher.leases WHERE expires_at <= now() AND NOT (inbox_id = ANY($1::bigint[]))",
                list(active),
            )
            await conn.execute(
                f"DELETE FROM fetcher.replicas WHERE expires_at < now() - interval '{_FORGET_REPLICAS_AFTER}'"
            )
            # One read-only transaction: replicas and leases as of the same instant.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                replicas = await conn.fetch("SELECT id FROM fetcher.replicas WHERE expires_at > now()")
                leases = await conn.fetch(
                    """SELECT inbox_id, owner, extract(epoch FROM expires_at - now())::float8 AS expires_in
                       FROM fetcher.leases"""
                )
        return Snapshot(
            replica=self.replica,
            live_replicas=frozenset(row["id"] for row in replicas),
            active=frozenset(active),
            leases=tuple(Lease(row["inbox_id"], row["owner"], row["expires_in"]) for row in leases),
        )

    async def claim(self, inbox_ids: Collection[int]) -> frozenset[int]:
        """Claim each inbox that has no lease or an expired one; the inboxes now held by this replica.

        Rows are locked in id order, so replicas claiming overlapping sets wait for each other
        instead of deadlocking; the loser of a race sees a live lease and gets nothing.
        """
        if not inbox_ids:
            return frozenset()
        rows = await self._pool.fetch(
            """INSERT INTO fetcher.leases (inbox_id, owner, expires_at)
               SELECT inbox_id, $2, now() + make_interval(secs => $3)
               FROM unnest($1::bigint[]) AS inbox_id ORDER BY inbox_id
               ON CONFLICT (inbox_id) DO UPDATE
                   SET owner = EXCLUDED.owner, acquired_at = now(), renewed_at = now(), expires_at = EXCLUDED.expires_at
                   WHERE fetcher.leases.expires_at <= now()
               RETURNING inbox_id""",
            sorted(inbox_ids),
            self.replica,
            self.lease_seconds,
        )
        return frozenset(row["inbox_id"] for row in rows)

    async def release(self, inbox_ids: Collection[int]) -> None:
        """Give up these leases (only ours): another replica may claim them at once."""
        if inbox_ids:
            await self._pool.execute(
                "DELETE FROM fetcher.leases WHERE owner = $1 AND inbox_id = ANY($2::bigint[])",
                self.replica,
                sorted(inbox_ids),
            )

    async def release_all(self) -> frozenset[int]:
        """Leave: give up every lease and the heartbeat row; the inboxes released."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "DELETE FROM fetcher.leases WHERE owner = $1 RETURNING inbox_id",
                self.replica,
            )
            await conn.execute("DELETE FROM fetcher.replicas WHERE id = $1", self.replica)
        return frozenset(row["inbox_id"] for row in rows)
