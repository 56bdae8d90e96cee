"""The supervisor with a fake inbox list, fake leases and fake loops: start, stop, restart on change, survive a
missing view; run only what it holds, stop lost loops, release the surplus after stopping it, stop everything
when the leases cannot be renewed in time, release everything on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from intake.fetcher.errors import InboxesUnavailable
from intake.fetcher.leases import Lease, Snapshot
from intake.fetcher.supervisor import Supervisor

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FakeInbox:
    id: int
    updated_at: datetime


class FakeConfig:
    def __init__(self) -> None:
        self.inboxes: list[FakeInbox] | None = None  # None: the view does not exist yet
        self.failing = False

    async def load(self) -> list[FakeInbox]:
        if self.failing:
            raise ConnectionError("database down")
        if self.inboxes is None:
            raise InboxesUnavailable("not migrated")
        return list(self.inboxes)


class FakeLoops:
    def __init__(self) -> None:
        self.started: list[FakeInbox] = []
        self.cancelled: list[int] = []
        self.woken: list[int] = []

    async def run(self, inbox: FakeInbox, wake: asyncio.Event) -> None:
        self.started.append(inbox)
        try:
            while True:
                await wake.wait()
                wake.clear()
                self.woken.append(inbox.id)
        except asyncio.CancelledError:
            self.cancelled.append(inbox.id)
            raise


@dataclass
class FakeLeaseTable:
    """`fetcher.leases` and `fetcher.replicas` in memory; leases never expire unless a test says so."""

    owners: dict[int, str] = field(default_factory=dict)
    replicas: set[str] = field(default_factory=set)
    down: bool = False
    log: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)


class FakeOwnership:
    def __init__(self, table: FakeLeaseTable, replica: str, lease_seconds: float = 15.0) -> None:
        self.table = table
        self.replica = replica
        self.lease_seconds = lease_seconds
        self.hang = False

    def _check(self) -> None:
        if self.table.down:
            raise ConnectionError("database down")

    async def renew(self) -> frozenset[int]:
        if self.hang:
            await asyncio.Event().wait()
        self._check()
        self.table.replicas.add(self.replica)
        return frozenset(i for i, owner in self.table.owners.items() if owner == self.replica)

    async def snapshot(self, active: Collection[int]) -> Snapshot:
        self._check()
        leases = tuple(Lease(i, owner, 10.0) for i, owner in self.table.owners.items())
        return Snapshot(self.replica, frozenset(self.table.replicas), frozenset(active), leases)

    async def claim(self, inbox_ids: Collection[int]) -> frozenset[int]:
        self._check()
        got = frozenset(i for i in inbox_ids if self.table.owners.setdefault(i, self.replica) == self.replica)
        self.table.log.append((self.replica, "claim", tuple(sorted(got))))
        return got

    async def release(self, inbox_ids: Collection[int]) -> None:
        self._check()
        for i in inbox_ids:
            if self.table.owners.get(i) == self.replica:
                del self.table.owners[i]
        self.table.log.append((self.replica, "release", tuple(sorted(inbox_ids))))

    async def release_all(self) -> frozenset[int]:
        self._check()
        mine = frozenset(i for i, owner in self.table.owners.items() if owner == self.replica)
        for i in mine:
            del self.table.owners[i]
        self.table.replicas.discard(self.replica)
        return mine


def sole_owner() -> FakeOwnership:
    return FakeOwnership(FakeLeaseTable(), "me")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_follows_the_inbox_list() -> None:
    config, loops = FakeConfig(), FakeLoops()
    sup = Supervisor(config.load, loops.run, refresh_seconds=60, ownership=sole_owner())

    await sup.refresh()  # view missing: nothing, no error
    assert sup.running == frozenset()

    config.inboxes = [FakeInbox(1, T0), FakeInbox(2, T0)]
    await sup.refresh()
    await settle()
    assert sup.running == {1, 2}
    assert [inbox.id for inbox in loops.started] == [1, 2]

    sup.wake(2)
    sup.wake(99)  # not ours: ignored
    await settle()
    assert loops.woken == [2]

    config.failing = True
    await sup.refresh()  # a failed read keeps what runs
    assert sup.running == {1, 2}

    config.failing = False
    config.inboxes = [FakeInbox(2, T0 + timedelta(seconds=1)), FakeInbox(3, T0)]
    await sup.refresh()
    await settle()
    assert sup.running == {2, 3}
    assert sorted(loops.cancelled) == [1, 2]
    assert [inbox.id for inbox in loops.started] == [1, 2, 2, 3]

    await sup.stop()
    assert sup.running == frozenset()
    assert sorted(loops.cancelled) == [1, 2, 2, 3]


async def test_a_loop_that_died_is_restarted() -> None:
    config = FakeConfig()
    config.inboxes = [FakeInbox(1, T0)]
    runs: list[int] = []

    async def crash(inbox: FakeInbox, wake: asyncio.Event) -> None:
        runs.append(inbox.id)
        raise RuntimeError("boom")

    sup = Supervisor(config.load, crash, refresh_seconds=60, ownership=sole_owner())
    await sup.refresh()
    await settle()
    await sup.refresh()
    await settle()
    assert runs == [1, 1]
    await sup.stop()


async def test_a_lost_lease_stops_its_loop_and_a_stolen_inbox_is_not_started() -> None:
    config, loops, table = FakeConfig(), FakeLoops(), FakeLeaseTable()
    config.inboxes = [FakeInbox(1, T0), FakeInbox(2, T0)]
    table.owners[2] = "other"
    table.replicas.add("other")
    changes: list[tuple[frozenset[int], frozenset[int], frozenset[int]]] = []
    sup = Supervisor(
        config.load, loops.run, 60, FakeOwnership(table, "me"), observe=lambda *change: changes.append(change)
    )
    await sup.refresh()
    await settle()
    assert sup.running == {1}  # 2 has a live foreign lease

    table.owners[1] = "other"  # expired and taken over behind our back
    await sup.refresh()
    await settle()
    assert sup.running == frozenset()
    assert loops.cancelled == [1]
    # Claimed, then lost (not released): what the lease metrics count.
    assert changes == [(frozenset(), frozenset({1}), frozenset()), (frozenset({1}), frozenset(), frozenset())]


async def test_surplus_is_stopped_before_it_is_released_and_announced() -> None:
    config, loops, table = FakeConfig(), FakeLoops(), FakeLeaseTable()
    config.inboxes = [FakeInbox(i, T0) for i in range(1, 5)]
    announced: list[tuple[int, ...]] = []
    running_at_release: list[frozenset[int]] = []

    class Watched(FakeOwnership):
        """Notes which of the inboxes being released still have a running loop at that moment."""

        async def release(self, inbox_ids: Collection[int]) -> None:
            running_at_release.append(sup.running & set(inbox_ids))
            await super().release(inbox_ids)

    async def announce(inbox_ids: Collection[int]) -> None:
        announced.append(tuple(sorted(inbox_ids)))

    sup = Supervisor(config.load, loops.run, 60, Watched(table, "me"), announce)
    await sup.refresh()
    await settle()
    assert sup.running == {1, 2, 3, 4}

    newcomer = Supervisor(config.load, FakeLoops().run, 60, FakeOwnership(table, "new"))
    await newcomer.refresh()  # registers; everything is owned, so it waits
    assert newcomer.running == frozenset()

    await sup.refresh()  # sees two replicas: share 2, releases 2
    await settle()
    assert len(sup.running) == 2
    assert running_at_release == [frozenset()]  # stopped before released
    assert len(announced) == 1
    assert len(announced[0]) == 2

    await newcomer.refresh()
    await settle()
    assert newcomer.running == set(announced[0])
    assert sup.running | newcomer.running == {1, 2, 3, 4}
    await newcomer.stop()
    await sup.stop()


async def test_inactive_inbox_is_stopped_and_released() -> None:
    config, loops, table = FakeConfig(), FakeLoops(), FakeLeaseTable()
    config.inboxes = [FakeInbox(1, T0), FakeInbox(2, T0)]
    sup = Supervisor(config.load, loops.run, 60, FakeOwnership(table, "me"))
    await sup.refresh()
    await settle()
    config.inboxes = [FakeInbox(1, T0)]
    await sup.refresh()
    await settle()
    assert sup.running == {1}
    assert table.owners == {1: "me"}
    await sup.stop()


async def until(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    """Wait (generously: the machine is shared) until `condition()` holds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_loops_stop_when_the_leases_cannot_be_renewed_in_time() -> None:
    config, loops, table = FakeConfig(), FakeLoops(), FakeLeaseTable()
    config.inboxes = [FakeInbox(1, T0), FakeInbox(2, T0)]
    ownership = FakeOwnership(table, "me", lease_seconds=3.0)
    sup = Supervisor(config.load, loops.run, 60, ownership)
    runner = asyncio.create_task(sup.run())
    await until(lambda: sup.running == {1, 2}, "both loops")

    table.down = True  # renewals fail from now on
    await until(lambda: sup.running == frozenset(), "the watchdog to stop the loops")
    assert sorted(loops.cancelled) == [1, 2]

    table.down = False  # the database is back and nobody took the leases: the loops come back
    await until(lambda: sup.running == {1, 2}, "the loops to come back")

    ownership.hang = True  # a renewal that never answers is a failed one too
    await until(lambda: sup.running == frozenset(), "the watchdog to stop the loops again")
    ownership.hang = False
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert table.owners == {}  # released on stop
    assert "me" not in table.replicas


async def test_a_nudge_refreshes_at_once() -> None:
    config, loops = FakeConfig(), FakeLoops()
    config.inboxes = []
    # Ticks every 200 s: only the nudge can start the loop within the wait below.
    sup = Supervisor(config.load, loops.run, 3600, FakeOwnership(FakeLeaseTable(), "me", lease_seconds=600))
    runner = asyncio.create_task(sup.run())
    await settle()
    config.inboxes = [FakeInbox(7, T0)]
    sup.nudge(7)
    await until(lambda: sup.running == {7}, "the nudged refresh")
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_a_loop_that_swallows_a_cancellation_is_cancelled_again() -> None:
    """Python 3.11's asyncio.wait_for can swallow a cancel; the loop must still end before the release."""
    config, table = FakeConfig(), FakeLeaseTable()
    config.inboxes = [FakeInbox(1, T0)]
    swallowed: list[int] = []

    async def stubborn(inbox: FakeInbox, wake: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(inbox.id)

    sup = Supervisor(config.load, stubborn, 60, FakeOwnership(table, "me"))
    await sup.refresh()
    await settle()
    await sup.stop()
    assert swallowed == [1]
    assert sup.running == frozenset()
    assert table.owners == {}


async def test_a_claim_lost_to_another_replica_is_made_up_at_once() -> None:
    """Two replicas racing for free inboxes: the loser looks again at once, not a whole tick later."""
    config, table = FakeConfig(), FakeLeaseTable()
    config.inboxes = [FakeInbox(i, T0) for i in range(1, 5)]
    table.replicas.add("other")  # share: 2 each

    class Raced(FakeOwnership):
        raced = False

        async def claim(self, inbox_ids: Collection[int]) -> frozenset[int]:
            if not self.raced:  # the other replica wins the first inbox wanted, just before us
                self.raced = True
                table.owners[sorted(inbox_ids)[0]] = "other"
            return await super().claim(inbox_ids)

    # Ticks every 200 s: only the prompt second look explains a second claim within the wait below.
    sup = Supervisor(config.load, FakeLoops().run, 3600, Raced(table, "me", lease_seconds=600))
    runner = asyncio.create_task(sup.run())
    await until(lambda: len(sup.running) == 2, "the second claim")
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
