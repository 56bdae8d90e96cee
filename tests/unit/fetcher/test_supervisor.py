"""The supervisor with a fake inbox list and fake loops: start, stop, restart on change, survive a missing view."""

from __future__ import annotations

import asyncio
import doctest
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from intake.fetcher import supervisor
from intake.fetcher.errors import InboxesUnavailable
from intake.fetcher.supervisor import Plan, Supervisor, plan_changes

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_docstring_examples() -> None:
    assert doctest.testmod(supervisor).failed == 0


def test_plan_restarts_dead_loops() -> None:
    assert plan_changes({1: T0}, {1: T0}, dead=[1]) == Plan((), (), (1,))
    assert plan_changes({1: T0}, {1: T0}) == Plan((), (), ())


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


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_follows_the_inbox_list() -> None:
    config, loops = FakeConfig(), FakeLoops()
    sup = Supervisor(config.load, loops.run, refresh_seconds=60)

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

    sup = Supervisor(config.load, crash, refresh_seconds=60)
    await sup.refresh()
    await settle()
    await sup.refresh()
    await settle()
    assert runs == [1, 1]
    await sup.stop()
