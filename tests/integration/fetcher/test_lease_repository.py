"""Leases against real PostgreSQL: claim, renew, expiry, release, racing replicas, and the checkpoint guard."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from intake.fetcher import repository
from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.lease_repository import LeaseRepository, new_replica_id
from intake.shared.migrations import migrate
from tests.integration.fetcher.conftest import eventually


@pytest.fixture
async def fetcher_db(db: asyncpg.Connection) -> asyncpg.Connection:
    await migrate(db, "intake.fetcher", "fetcher")
    return db


@pytest.fixture
async def pools(database_url: str, fetcher_db: asyncpg.Connection) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    """One pool per replica, each naming its replica like the fetcher's own pool does."""
    opened: dict[str, asyncpg.Pool] = {}
    try:
        for name in ("a", "b", "c"):
            pool = await asyncpg.create_pool(
                database_url, min_size=1, max_size=4, server_settings={"intake.fetcher_replica": name}
            )
            assert pool is not None
            opened[name] = pool
        yield opened
    finally:
        await asyncio.gather(*(pool.close() for pool in opened.values()))


def replica(pools: dict[str, asyncpg.Pool], name: str, lease_seconds: float = 30.0) -> LeaseRepository:
    return LeaseRepository(pools[name], name, lease_seconds)


async def owners(db: asyncpg.Connection) -> dict[int, str]:
    return {row["inbox_id"]: row["owner"] for row in await db.fetch("SELECT inbox_id, owner FROM fetcher.leases")}


def test_replica_ids_are_unique() -> None:
    assert new_replica_id() != new_replica_id()


async def test_claim_renew_release(pools: dict[str, asyncpg.Pool], fetcher_db: asyncpg.Connection) -> None:
    a, b = replica(pools, "a"), replica(pools, "b")
    assert await a.renew() == frozenset()  # registers the heartbeat
    assert await a.claim([1, 2, 3]) == {1, 2, 3}
    assert await b.claim([2, 3, 4]) == {4}  # live foreign leases are never taken
    assert await a.claim([1]) == frozenset()  # already ours: not claimed again
    assert await a.renew() == {1, 2, 3}
    assert await owners(fetcher_db) == {1: "a", 2: "a", 3: "a", 4: "b"}

    await a.release([2, 4])  # 4 is not ours: untouched
    assert await owners(fetcher_db) == {1: "a", 3: "a", 4: "b"}
    assert await b.claim([2]) == {2}

    seen = await b.snapshot([1, 2, 3, 4])
    assert seen.live_replicas == {"a"}  # b never renewed, so it has no heartbeat yet
    assert {lease.inbox_id: lease.owner for lease in seen.leases} == {1: "a", 2: "b", 3: "a", 4: "b"}
    assert all(0 < lease.expires_in <= 30 for lease in seen.leases)

    assert await a.release_all() == {1, 3}
    assert await fetcher_db.fetchval("SELECT count(*) FROM fetcher.replicas WHERE id = 'a'") == 0
    assert await owners(fetcher_db) == {2: "b", 4: "b"}


async def test_an_expired_lease_moves_and_the_old_owner_cannot_renew_it(
    pools: dict[str, asyncpg.Pool], fetcher_db: asyncpg.Connection
) -> None:
    a, b = replica(pools, "a", lease_seconds=1.0), replica(pools, "b")
    await a.renew()
    assert await a.claim([1, 2]) == {1, 2}
    assert await b.claim([1]) == frozenset()

    async def taken() -> frozenset[int] | None:
        got = await b.claim([1])
        return got or None

    assert await eventually(taken, "the expired lease to be claimable") == {1}
    assert await a.renew() == frozenset()  # 1 moved; 2 expired: neither is renewed
    assert await owners(fetcher_db) == {1: "b", 2: "a"}
    seen = await b.snapshot([1, 2])
    assert seen.live_replicas == {"a"}  # a still heartbeats, it just lost the leases
    assert [lease.live for lease in sorted(seen.leases, key=lambda lease: lease.inbox_id)] == [True, False]
    assert await a.claim([2]) == {2}  # an expired lease of its own can be claimed again


async def test_snapshot_forgets_expired_leases_of_inactive_inboxes(
    pools: dict[str, asyncpg.Pool], fetcher_db: asyncpg.Connection
) -> None:
    a = replica(pools, "a", lease_seconds=0.5)
    await a.claim([1, 2])
    await asyncio.sleep(0.6)  # let both expire (the assertion below does not depend on timing otherwise)
    await replica(pools, "b").snapshot([1])
    assert set(await owners(fetcher_db)) == {1}


async def test_racing_replicas_never_share_an_inbox(
    pools: dict[str, asyncpg.Pool], fetcher_db: asyncpg.Connection
) -> None:
    rng = random.Random(7)
    replicas = [replica(pools, name) for name in ("a", "b", "c")]
    inboxes = list(range(1, 61))
    claimed: dict[str, set[int]] = {name: set() for name in ("a", "b", "c")}
    for _ in range(20):
        wants = [rng.sample(inboxes, 25) for _ in replicas]
        results = await asyncio.gather(*(r.claim(want) for r, want in zip(replicas, wants, strict=True)))
        for r, got in zip(replicas, results, strict=True):
            claimed[r.replica] |= got
        # A released inbox is raced for again in the next round.
        for r in replicas:
            await r.release(rng.sample(sorted(claimed[r.replica]), min(3, len(claimed[r.replica]))))
            claimed[r.replica] = set(await r.renew())
    table = await owners(fetcher_db)
    for name, held in claimed.items():
        assert {i for i, owner in table.items() if owner == name} == held
    assert sum(len(held) for held in claimed.values()) == len(table)  # disjoint


async def test_a_checkpoint_moves_only_under_the_writers_lease(
    pools: dict[str, asyncpg.Pool], fetcher_db: asyncpg.Connection
) -> None:
    a, b = replica(pools, "a", lease_seconds=1.0), replica(pools, "b")
    with pytest.raises(asyncpg.LockNotAvailableError, match="does not hold the lease on inbox 1"):
        await repository.save_checkpoint(pools["a"], 1, Checkpoint(5, 10))
    await a.claim([1])
    await repository.save_checkpoint(pools["a"], 1, Checkpoint(5, 10))
    with pytest.raises(asyncpg.LockNotAvailableError):
        await repository.save_checkpoint(pools["b"], 1, Checkpoint(5, 11))

    async def taken() -> frozenset[int] | None:
        return await b.claim([1]) or None

    await eventually(taken, "the lease to expire and move to b")
    with pytest.raises(asyncpg.LockNotAvailableError):
        await repository.save_checkpoint(pools["a"], 1, Checkpoint(5, 12))  # the old owner is refused
    await repository.save_checkpoint(pools["b"], 1, Checkpoint(5, 12))
    await repository.save_checkpoint(fetcher_db, 1, Checkpoint(5, 13))  # not a replica's connection: unchecked
    assert await repository.load_checkpoint(fetcher_db, 1) == Checkpoint(5, 13)
