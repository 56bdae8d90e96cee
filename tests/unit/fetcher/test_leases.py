"""The fair share and the claim/release decision, table-driven."""

from __future__ import annotations

import doctest

import pytest

from intake.fetcher import leases
from intake.fetcher.leases import Lease, Snapshot, decide, fair_share, preference


def test_docstring_examples() -> None:
    assert doctest.testmod(leases).failed == 0


@pytest.mark.parametrize(
    ("active", "replicas", "share"),
    [(0, 1, 0), (0, 3, 0), (1, 1, 1), (1, 3, 1), (30, 1, 30), (30, 3, 10), (30, 4, 8), (31, 3, 11), (7, 0, 7)],
)
def test_fair_share(active: int, replicas: int, share: int) -> None:
    assert fair_share(active, replicas) == share


def held_by(owner: str, *inbox_ids: int, expires_in: float = 10.0) -> tuple[Lease, ...]:
    return tuple(Lease(inbox_id, owner, expires_in) for inbox_id in inbox_ids)


def snapshot(active: range | set[int], replicas: set[str], *lease_groups: tuple[Lease, ...]) -> Snapshot:
    return Snapshot(
        "me", frozenset(replicas), frozenset(active), tuple(lease for group in lease_groups for lease in group)
    )


# (what the replica "me" sees, how many it claims, how many it releases, the inboxes it must release)
CASES = [
    pytest.param(snapshot(range(1, 11), {"me"}), 10, 0, set(), id="alone: claims everything"),
    pytest.param(snapshot(range(1, 11), set()), 10, 0, set(), id="own heartbeat not seen yet: counts itself"),
    pytest.param(snapshot(range(1, 31), {"me", "a", "b"}), 10, 0, set(), id="new among three: a third"),
    pytest.param(
        snapshot(range(1, 31), {"me", "a"}, held_by("a", *range(1, 21))),
        10,
        0,
        set(),
        id="claims only the free ones up to the share",
    ),
    pytest.param(
        snapshot(range(1, 31), {"me", "a", "b"}, held_by("a", *range(1, 16)), held_by("b", *range(16, 31))),
        0,
        0,
        set(),
        id="everything owned by live leases: nothing to claim",
    ),
    pytest.param(
        snapshot(range(1, 31), {"me", "a"}, held_by("a", *range(1, 16)), held_by("dead", *range(16, 31), expires_in=0)),
        15,
        0,
        set(),
        id="expired leases are free",
    ),
    pytest.param(
        snapshot(range(1, 31), {"me", "a", "b", "c"}, held_by("me", *range(1, 11))),
        0,
        2,
        set(),
        id="a fourth replica: releases the surplus over 8",
    ),
    pytest.param(
        snapshot(range(1, 6), {"me"}, held_by("me", 1, 2, 3, 9, 10)),
        2,
        2,
        {9, 10},
        id="inactive or deleted inboxes are released, active free ones claimed",
    ),
    pytest.param(
        snapshot(range(1, 4), {"me", "a"}, held_by("me", 1, 2), held_by("a", 3)),
        0,
        0,
        set(),
        id="at the share (ceil): keeps everything",
    ),
    pytest.param(
        snapshot(range(1, 4), {"me", "a"}, held_by("me", 1), held_by("a", 2, 3)),
        0,
        0,
        set(),
        id="below the share but nothing free: waits",
    ),
    pytest.param(snapshot(set(), {"me", "a"}), 0, 0, set(), id="no inboxes"),
]


@pytest.mark.parametrize(("seen", "claims", "releases", "must_release"), CASES)
def test_decide(seen: Snapshot, claims: int, releases: int, must_release: set[int]) -> None:
    decision = decide(seen)
    assert len(decision.claim) == claims, decision
    assert len(decision.release) == releases, decision
    assert must_release <= set(decision.release)
    assert decision.reason
    live_foreign = {lease.inbox_id for lease in seen.leases if lease.live and lease.owner != "me"}
    assert not set(decision.claim) & live_foreign  # a live foreign lease is never claimed
    assert set(decision.claim) <= seen.active
    assert len(set(decision.claim)) == len(decision.claim)


def test_recheck_when_the_next_foreign_lease_expires() -> None:
    seen = snapshot(range(1, 5), {"me", "a"}, held_by("a", 1, expires_in=3.5), held_by("a", 2, expires_in=9.0))
    assert decide(seen).recheck_in == 3.5
    assert decide(snapshot(range(1, 5), {"me"}, held_by("me", 1))).recheck_in is None
    # a foreign lease on an inactive inbox is nobody's business
    assert decide(snapshot(range(2, 5), {"me"}, held_by("a", 1, expires_in=1.0))).recheck_in is None


def test_replicas_prefer_different_inboxes_and_always_the_same() -> None:
    inboxes = range(1, 101)
    first_choices = {
        replica: set(sorted(inboxes, key=lambda i, r=replica: -preference(r, i))[:10]) for replica in ("a", "b", "c")
    }
    assert len(first_choices["a"] & first_choices["b"]) < 5
    assert preference("a", 7) == preference("a", 7)


def test_replicas_converge_to_the_fair_share() -> None:
    """Replicas applying `decide` in turn, with claims and releases as the database would apply them."""
    owners: dict[int, str] = {}
    active = frozenset(range(1, 31))

    def step(replica: str, replicas: set[str]) -> None:
        seen = Snapshot(replica, frozenset(replicas), active, tuple(Lease(i, o, 10.0) for i, o in owners.items()))
        decision = decide(seen)
        for inbox_id in decision.release:
            del owners[inbox_id]
        for inbox_id in decision.claim:
            owners.setdefault(inbox_id, replica)

    replicas = {"a", "b", "c"}
    for _ in range(3):
        for replica in sorted(replicas):
            step(replica, replicas)
    counts = {r: sum(1 for o in owners.values() if o == r) for r in replicas}
    assert len(owners) == 30
    # "a" ran first alone in the share of three: everything settles to 10 each
    assert counts == {"a": 10, "b": 10, "c": 10}

    replicas.add("d")
    for _ in range(3):
        for replica in sorted(replicas):
            step(replica, replicas)
    counts = {r: sum(1 for o in owners.values() if o == r) for r in replicas}
    assert len(owners) == 30
    assert max(counts.values()) == 8
    assert counts["d"] >= 6

    replicas.remove("b")  # killed: its leases expire
    for inbox_id in [i for i, o in owners.items() if o == "b"]:
        del owners[inbox_id]
    for replica in sorted(replicas):
        step(replica, replicas)
    assert len(owners) == 30
    assert max(sum(1 for o in owners.values() if o == r) for r in replicas) == 10
