"""Keeps one running loop per active inbox: starts new ones, stops removed ones, restarts changed ones.

The inbox list and the loop itself are injected (a loader and a factory), so this module knows
nothing of PostgreSQL or IMAP; `plan_changes` is the pure decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import structlog

from intake.fetcher.errors import InboxesUnavailable

log = structlog.get_logger(__name__)


class InboxLike(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def updated_at(self) -> datetime: ...


@dataclass(frozen=True)
class Plan:
    start: tuple[int, ...]
    stop: tuple[int, ...]
    restart: tuple[int, ...]


def plan_changes(running: Mapping[int, datetime], wanted: Mapping[int, datetime], dead: Iterable[int] = ()) -> Plan:
    """Which inbox loops to start, stop and restart; values are each inbox's `updated_at`.

    >>> from datetime import datetime as d
    >>> plan_changes({1: d(2024, 1, 1), 2: d(2024, 1, 1)}, {2: d(2024, 1, 2), 3: d(2024, 1, 1)})
    Plan(start=(3,), stop=(1,), restart=(2,))
    """
    dead_ids = set(dead)
    return Plan(
        start=tuple(sorted(set(wanted) - set(running))),
        stop=tuple(sorted(set(running) - set(wanted))),
        restart=tuple(sorted(i for i in set(running) & set(wanted) if running[i] != wanted[i] or i in dead_ids)),
    )


InboxT = TypeVar("InboxT", bound=InboxLike)


class Supervisor(Generic[InboxT]):
    """Runs `run_inbox(inbox, wake)` as one task per inbox returned by `load_inboxes`."""

    def __init__(
        self,
        load_inboxes: Callable[[], Awaitable[list[InboxT]]],
        run_inbox: Callable[[InboxT, asyncio.Event], Coroutine[Any, Any, None]],
        refresh_seconds: float,
    ) -> None:
        self._load = load_inboxes
        self._run_inbox = run_inbox
        self._refresh_seconds = refresh_seconds
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._versions: dict[int, datetime] = {}
        self._wakes: dict[int, asyncio.Event] = {}

    @property
    def running(self) -> frozenset[int]:
        return frozenset(self._tasks)

    def wake(self, inbox_id: int) -> None:
        """Cut the inbox loop's wait short (no-op for an inbox not running here)."""
        event = self._wakes.get(inbox_id)
        if event is not None:
            event.set()

    async def run(self) -> None:
        """Refresh every `refresh_seconds` until cancelled; then stop every loop."""
        try:
            while True:
                await self.refresh()
                await asyncio.sleep(self._refresh_seconds)
        finally:
            await self.stop()

    async def refresh(self) -> None:
        try:
            inboxes = await self._load()
        except InboxesUnavailable as error:
            log.info("inbox list not available yet", reason=str(error))
            return
        except Exception as error:  # the database is down: keep the loops we have, try again later
            log.warning("inbox list could not be read", error=str(error))
            return
        by_id = {inbox.id: inbox for inbox in inboxes}
        dead = [inbox_id for inbox_id, task in self._tasks.items() if task.done()]
        plan = plan_changes(self._versions, {i: inbox.updated_at for i, inbox in by_id.items()}, dead)
        for inbox_id in (*plan.stop, *plan.restart):
            await self._stop_one(inbox_id)
        for inbox_id in (*plan.restart, *plan.start):
            self._start_one(by_id[inbox_id])
        if plan.start or plan.stop or plan.restart:
            log.info("inbox loops changed", started=plan.start, stopped=plan.stop, restarted=plan.restart)

    def _start_one(self, inbox: InboxT) -> None:
        wake = asyncio.Event()
        self._wakes[inbox.id] = wake
        self._versions[inbox.id] = inbox.updated_at
        self._tasks[inbox.id] = asyncio.create_task(self._run_inbox(inbox, wake), name=f"inbox-{inbox.id}")

    async def _stop_one(self, inbox_id: int) -> None:
        task = self._tasks.pop(inbox_id, None)
        self._versions.pop(inbox_id, None)
        self._wakes.pop(inbox_id, None)
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as error:
            log.warning("inbox loop ended with an error", inbox_id=inbox_id, error=str(error))

    async def stop(self) -> None:
        """Stop every inbox loop at once: each logs out within its own timeout, so N slow servers cost
        one timeout, not N, before the process may exit."""
        await asyncio.gather(*(self._stop_one(inbox_id) for inbox_id in list(self._tasks)))
