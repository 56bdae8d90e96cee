"""Runs one loop per inbox this replica owns: claims and renews leases, starts, stops and restarts loops.

The inbox list, the leases and the loop itself are injected (a loader, an `Ownership` and a
factory), so this module knows nothing of PostgreSQL or IMAP; `loop_changes.plan_changes` and
`leases.decide` are the pure decisions. A loop runs only while its lease is held: a lost lease stops
it, and when the leases cannot be renewed in time every loop stops before they expire (the watchdog).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Coroutine
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import structlog

from intake.fetcher.errors import InboxesUnavailable
from intake.fetcher.leases import Snapshot, decide
from intake.fetcher.loop_changes import plan_changes

log = structlog.get_logger(__name__)

# Leases are renewed this often per lease period, and every loop stops once this fraction of the
# period passed since the last renewal that succeeded began: two renewals may fail before it does.
RENEWALS_PER_LEASE = 3
STOP_AFTER_FRACTION = 2 / 3
# A loop that has not ended this long after a cancel is cancelled again (see `_stop_one`).
RECANCEL_SECONDS = 1.0


class InboxLike(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def updated_at(self) -> datetime: ...


InboxT = TypeVar("InboxT", bound=InboxLike)


class Ownership(Protocol):
    """The lease side (PostgreSQL in production, a fake in unit tests); see lease_repository."""

    @property
    def replica(self) -> str: ...

    @property
    def lease_seconds(self) -> float: ...

    async def renew(self) -> frozenset[int]: ...

    async def snapshot(self, active: Collection[int]) -> Snapshot: ...

    async def claim(self, inbox_ids: Collection[int]) -> frozenset[int]: ...

    async def release(self, inbox_ids: Collection[int]) -> None: ...

    async def release_all(self) -> frozenset[int]: ...


async def _no_announcement(inbox_ids: Collection[int]) -> None:
    return None


def _no_observer(before: frozenset[int], after: frozenset[int], released: frozenset[int]) -> None:
    return None


# Told every change of the held leases: (held before, held after, released on purpose among the dropped).
LeaseObserver = Callable[[frozenset[int], frozenset[int], frozenset[int]], None]


class Supervisor(Generic[InboxT]):
    """Runs `run_inbox(inbox, wake)` as one task per active inbox whose lease this replica holds.

    `announce(inbox_ids)` is told which leases were just released, so other replicas can claim them
    at once instead of at their next refresh (the fetcher publishes `inbox.changed` for each);
    `observe` every change of the held leases (the fetcher's lease metrics).
    """

    def __init__(
        self,
        load_inboxes: Callable[[], Awaitable[list[InboxT]]],
        run_inbox: Callable[[InboxT, asyncio.Event], Coroutine[Any, Any, None]],
        refresh_seconds: float,
        ownership: Ownership,
        announce: Callable[[Collection[int]], Awaitable[None]] = _no_announcement,
        observe: LeaseObserver = _no_observer,
    ) -> None:
        self._observe = observe
        self._load = load_inboxes
        self._run_inbox = run_inbox
        self._ownership = ownership
        self._announce = announce
        lease = ownership.lease_seconds
        self._tick_seconds = min(refresh_seconds, lease / RENEWALS_PER_LEASE)
        self._valid_seconds = lease * STOP_AFTER_FRACTION
        self._step_timeout = lease / RENEWALS_PER_LEASE
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._versions: dict[int, datetime] = {}
        self._wakes: dict[int, asyncio.Event] = {}
        self._held: frozenset[int] = frozenset()
        self._valid_until = 0.0  # loop.time() until which the held leases are surely still ours
        self._recheck_in: float | None = None
        self._nudged = asyncio.Event()

    @property
    def running(self) -> frozenset[int]:
        return frozenset(self._tasks)

    @property
    def held(self) -> frozenset[int]:
        """The inboxes whose leases this replica holds, as of its last refresh."""
        return self._held

    def _set_held(self, held: frozenset[int], released: frozenset[int] = frozenset()) -> None:
        before, self._held = self._held, held
        if before != held:
            self._observe(before, held, released)

    def wake(self, inbox_id: int) -> None:
        """Cut the inbox loop's wait short (no-op for an inbox not running here)."""
        event = self._wakes.get(inbox_id)
        if event is not None:
            event.set()

    def nudge(self, inbox_id: int) -> None:
        """An inbox changed (`inbox.changed`) or a lease was released: refresh now, not at the next tick.

        The refresh re-reads every active inbox, so the owner restarts a changed loop (or stops an
        inactive one) and the other replicas re-evaluate ownership; hints arriving together are
        handled by one refresh.
        """
        log.debug("refresh requested", inbox_id=inbox_id)
        self._nudged.set()

    async def run(self) -> None:
        """Refresh every tick (or when nudged) until cancelled; then stop every loop and release the leases."""
        watchdog = asyncio.create_task(self._watch_leases(), name="lease-watchdog")
        try:
            while True:
                self._nudged.clear()
                await self.refresh()
                await self._sleep()
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
            await self.stop()

    async def _sleep(self) -> None:
        delay = self._tick_seconds
        if self._recheck_in is not None:
            # Just after a foreign lease expires, to take it over within one lease period.
            delay = min(delay, max(self._recheck_in, 0.0) + 0.05)
        try:
            async with asyncio.timeout(delay):
                await self._nudged.wait()
        except TimeoutError:
            pass

    async def refresh(self) -> None:
        """Renew, drop lost loops, read the active inboxes, release or claim towards the fair share,
        then start, stop or restart loops to match what is held."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            async with asyncio.timeout(self._step_timeout):
                held = await self._ownership.renew()
        except Exception as error:  # the database is slow or down: the watchdog stops the loops in time
            log.warning("leases could not be renewed", error=f"{type(error).__name__}: {error}")
            return
        self._valid_until = began + self._valid_seconds
        lost = sorted(set(self._tasks) - held)
        if lost:
            log.warning("leases lost, stopping their loops", inbox_ids=lost)
            await asyncio.gather(*(self._stop_one(inbox_id) for inbox_id in lost))
        self._set_held(held)

        try:
            inboxes = await self._load()
        except InboxesUnavailable as error:
            log.info("inbox list not available yet", reason=str(error))
            return
        except Exception as error:  # the database is down: keep the loops we have, try again later
            log.warning("inbox list could not be read", error=str(error))
            return
        by_id = {inbox.id: inbox for inbox in inboxes}

        try:
            async with asyncio.timeout(self._step_timeout):
                snapshot = await self._ownership.snapshot(by_id.keys())
            decision = decide(snapshot)
            self._recheck_in = decision.recheck_in
            if decision.release:
                # Stop first, release second: the next owner never overlaps with this one.
                await asyncio.gather(*(self._stop_one(inbox_id) for inbox_id in decision.release))
                self._set_held(self._held - set(decision.release), frozenset(decision.release))
                await self._ownership.release(decision.release)
                log.info("leases released", inbox_ids=decision.release, share=decision.share, reason=decision.reason)
                await self._announce_released(decision.release)
            if decision.claim:
                async with asyncio.timeout(self._step_timeout):
                    claimed = await self._ownership.claim(decision.claim)
                self._set_held(self._held | claimed)
                if len(claimed) < len(decision.claim):
                    # Another replica won some of them: look again at once, not a whole tick later.
                    self._recheck_in = 0.0
                if claimed:
                    log.info("leases claimed", inbox_ids=sorted(claimed), share=decision.share, reason=decision.reason)
        except Exception as error:
            log.warning("leases could not be balanced", error=f"{type(error).__name__}: {error}")

        if loop.time() >= self._valid_until:
            return  # this refresh took so long that the renewal no longer covers a start
        wanted = {inbox_id: by_id[inbox_id].updated_at for inbox_id in self._held if inbox_id in by_id}
        dead = [inbox_id for inbox_id, task in self._tasks.items() if task.done()]
        plan = plan_changes(self._versions, wanted, dead)
        await asyncio.gather(*(self._stop_one(inbox_id) for inbox_id in (*plan.stop, *plan.restart)))
        for inbox_id in (*plan.restart, *plan.start):
            self._start_one(by_id[inbox_id])
        if plan.start or plan.stop or plan.restart:
            log.info("inbox loops changed", started=plan.start, stopped=plan.stop, restarted=plan.restart)

    async def _watch_leases(self) -> None:
        """Stop every loop once the leases were not renewed in time, before another replica may claim them."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = self._valid_until - loop.time()
            if remaining <= 0 and self._tasks:
                log.error(
                    "leases not renewed in time; stopping every inbox loop before they expire",
                    inbox_ids=sorted(self._tasks),
                )
                self._set_held(frozenset())
                await asyncio.gather(*(self._stop_one(inbox_id) for inbox_id in list(self._tasks)))
            await asyncio.sleep(min(remaining, self._tick_seconds) + 0.05 if remaining > 0 else 0.25)

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
        while True:
            done, _ = await asyncio.wait([task], timeout=RECANCEL_SECONDS)
            if done:
                break
            # Python 3.11's asyncio.wait_for (aioimaplib uses it for every command) swallows a
            # cancellation that arrives as the command completes: the loop would run on unowned.
            log.warning(
                "inbox loop has not ended after a cancel (a slow logout or a swallowed cancellation); cancelling again",
                inbox_id=inbox_id,
            )
            task.cancel()
        if not task.cancelled() and task.exception() is not None:
            log.warning("inbox loop ended with an error", inbox_id=inbox_id, error=str(task.exception()))

    async def stop(self) -> None:
        """Stop every inbox loop at once (each logs out within its own timeout, so N slow servers cost
        one timeout, not N), then release every lease so other replicas take over at once."""
        await asyncio.gather(*(self._stop_one(inbox_id) for inbox_id in list(self._tasks)))
        self._set_held(frozenset(), self._held)
        try:
            async with asyncio.timeout(self._step_timeout):
                released = await self._ownership.release_all()
        except Exception as error:  # they expire on their own within one lease period
            log.warning("leases could not be released", error=f"{type(error).__name__}: {error}")
            return
        if released:
            log.info("leases released on stop", inbox_ids=sorted(released))
            await self._announce_released(released)

    async def _announce_released(self, inbox_ids: Collection[int]) -> None:
        """Tell the other replicas; if that fails they still claim at their next refresh."""
        try:
            async with asyncio.timeout(self._step_timeout):
                await self._announce(inbox_ids)
        except Exception as error:
            log.warning("released leases could not be announced", error=f"{type(error).__name__}: {error}")
