"""Lease arithmetic for fetcher replicas sharing inboxes: the fair share, and what to claim and release (pure).

Every active inbox has at most one owner, the replica holding its unexpired lease (DESIGN §2 "One
owner per inbox"). Each replica aims at its fair share, ceil(active inboxes / live replicas): below it,
it claims free inboxes; above it, it releases the surplus so a replica with room takes it over.
Preferences are rendezvous hashes of (replica, inbox), so replicas racing for free inboxes mostly
want different ones, and the same replica keeps wanting the same ones. No I/O here; the times are
seconds measured by the database clock, so replicas never compare their own clocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    """One row of `fetcher.leases`: `expires_in` seconds from the snapshot (≤ 0: expired, free to claim)."""

    inbox_id: int
    owner: str
    expires_in: float

    @property
    def live(self) -> bool:
        return self.expires_in > 0


@dataclass(frozen=True)
class Snapshot:
    """What one replica sees at once: the replicas with a live heartbeat, the active inboxes, the leases."""

    replica: str
    live_replicas: frozenset[str]
    active: frozenset[int]
    leases: tuple[Lease, ...]


@dataclass(frozen=True)
class Decision:
    """What `replica` does now, and why.

    `release`: inboxes it holds and gives up (stop the loop first, then release the lease).
    `claim`: free inboxes to claim, best first. `recheck_in`: seconds until the next foreign lease
    on an active inbox expires (look again then, to take it over without waiting a whole tick).
    """

    share: int
    held: frozenset[int]
    release: tuple[int, ...]
    claim: tuple[int, ...]
    recheck_in: float | None
    reason: str


def fair_share(active: int, replicas: int) -> int:
    """How many inboxes one replica should own: ceil(active / replicas), 0 without inboxes.

    >>> fair_share(30, 3), fair_share(30, 4), fair_share(1, 5), fair_share(0, 2), fair_share(7, 0)
    (10, 8, 1, 0, 7)
    """
    if active <= 0:
        return 0
    return -(-active // max(replicas, 1))


def preference(replica: str, inbox_id: int) -> int:
    """How much `replica` wants `inbox_id` (rendezvous hashing): stable, and different per replica."""
    digest = hashlib.blake2b(f"{replica}\x00{inbox_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _by_preference(replica: str, inbox_ids: Iterable[int]) -> list[int]:
    """Most wanted first; ties (never in practice) by id so the order is total."""
    return sorted(inbox_ids, key=lambda inbox_id: (-preference(replica, inbox_id), inbox_id))


def decide(snapshot: Snapshot) -> Decision:
    """Claims and releases that move `snapshot.replica` towards its fair share.

    Inactive or deleted inboxes it holds are released whatever the share. Above the share, the
    least wanted held inboxes go; below it, the most wanted free ones (no lease, or an expired one)
    are claimed, never more than the share allows. A live foreign lease is never touched.
    """
    me = snapshot.replica
    live = {lease.inbox_id: lease for lease in snapshot.leases if lease.live}
    mine = frozenset(inbox_id for inbox_id, lease in live.items() if lease.owner == me)
    gone = sorted(mine - snapshot.active)
    held = mine & snapshot.active
    replicas = len(snapshot.live_replicas | {me})
    share = fair_share(len(snapshot.active), replicas)
    surplus = len(held) - share
    release: list[int] = list(gone)
    claim: list[int] = []
    reasons: list[str] = []
    if gone:
        reasons.append(f"{len(gone)} held inboxes are inactive or deleted")
    if surplus > 0:
        least_wanted = _by_preference(me, held)[::-1][:surplus]
        release.extend(sorted(least_wanted))
        reasons.append(f"{len(held)} held is above the fair share {share}; releasing {surplus}")
    elif surplus < 0:
        free = [inbox_id for inbox_id in snapshot.active if inbox_id not in live]
        claim = _by_preference(me, free)[:-surplus]
        if claim:
            reasons.append(f"{len(held)} held is below the fair share {share}; claiming {len(claim)} free")
    foreign = [lease.expires_in for lease in live.values() if lease.owner != me and lease.inbox_id in snapshot.active]
    return Decision(
        share=share,
        held=held,
        release=tuple(release),
        claim=tuple(claim),
        recheck_in=min(foreign) if foreign else None,
        reason="; ".join(reasons) or f"{len(held)} held, fair share {share} of {len(snapshot.active)} over {replicas}",
    )
