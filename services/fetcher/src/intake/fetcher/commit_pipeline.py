"""The order of one inbox loop's fetched batches: each is stored, then published, in the background;
stores run one after another in fetch order, publishes overlap (at most `depth` batches unsettled).

Why the order matters: a batch's store also saves the checkpoint past its UIDs, so a batch may be
stored only after every batch before it is; if one store fails, nothing after it is stored and the
loop ends (the UIDs are fetched again). Publishing only waits for RabbitMQ's confirms (a quorum-queue
commit each), so overlapping them is what lets one inbox fetch faster than one batch per confirm
round trip. Errors are raised to the loop once, in order; nothing here is cancelled by a stop:
`settle` waits for what was started (a confirmed publish must be marked).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class _Step:
    """One batch: its store (done when `stored` is) and then its publish (done when `task` is)."""

    def __init__(self, task: asyncio.Future[None], stored: asyncio.Future[None]) -> None:
        self.task = task
        self.stored = stored


def _failure(step: _Step) -> Exception | None:
    """The error a finished batch ended with (its `stored` future, if failed, holds the same one)."""
    if step.stored.done() and not step.stored.cancelled():
        step.stored.exception()  # retrieved here: the task's error says the same
    task = step.task
    if task.cancelled():
        return RuntimeError("a fetched batch's store and publish was cancelled")
    error = task.exception()
    if error is not None and not isinstance(error, Exception):
        return RuntimeError(f"a fetched batch's store and publish ended with {error!r}")
    return error


class CommitPipeline:
    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._depth = depth
        self._steps: deque[_Step] = deque()

    @property
    def unsettled(self) -> int:
        return len(self._steps)

    async def submit(self, store: Callable[[], Awaitable[T]], publish: Callable[[T], Awaitable[None]]) -> None:
        """Start `store` and then `publish` (with what `store` returned) in the background, once the
        batch before it is stored and fewer than `depth` batches are unsettled. Raises, instead of
        starting it, the error of an earlier batch (a failed store, or a finished failed publish).
        A cancelled wait here leaves the started batches running: `settle` finishes them."""
        while self._steps:
            newest = self._steps[-1]
            await asyncio.wait([newest.stored])
            if newest.stored.cancelled() or newest.stored.exception() is not None:
                # Not stored: this batch's checkpoint would pass the failed one's UIDs, so it waits.
                await asyncio.wait([newest.task])
                self._steps.pop()
                raise _failure(newest) or RuntimeError("a fetched batch was not stored")
            if len(self._steps) < self._depth and not self._steps[0].task.done():
                break
            await self._settle_oldest()
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def step() -> None:
            try:
                result = await store()
            except Exception as error:
                stored.set_exception(error)
                raise
            except BaseException:
                stored.cancel()
                raise
            stored.set_result(None)
            await publish(result)

        self._steps.append(_Step(asyncio.ensure_future(step()), stored))

    async def _settle_oldest(self) -> None:
        """Wait for the oldest batch and forget it; raise its error."""
        oldest = self._steps[0]
        await asyncio.wait([oldest.task])
        if self._steps and self._steps[0] is oldest:
            self._steps.popleft()
        error = _failure(oldest)
        if error is not None:
            raise error

    async def settle(self) -> None:
        """Wait for every batch started; raise the first error among them (in fetch order), once; later
        ones are logged."""
        first: Exception | None = None
        while self._steps:
            try:
                await self._settle_oldest()
            except Exception as error:
                if first is None:
                    first = error
                else:
                    log.warning("storing or publishing fetched messages failed", error=_describe(error))
        if first is not None:
            raise first

    async def finish(self, failure: BaseException | None = None) -> None:
        """`settle`, however often the caller is cancelled meanwhile: an inbox loop that stops must not
        end with a confirmed publish unmarked (the next owner would publish it again), and the fetcher
        cancels a stopping loop again every second. Afterwards a cancellation that arrived meanwhile is
        raised; else, when the caller is already raising `failure`, the batches' error is only logged
        (the caller re-raises its own); else the batches' error is raised."""
        settling = asyncio.ensure_future(self.settle())
        cancelled = False
        while not settling.done():
            try:
                await asyncio.wait([settling])
            except asyncio.CancelledError:
                cancelled = True
        error = RuntimeError("settling was cancelled") if settling.cancelled() else settling.exception()
        if error is not None and (cancelled or failure is not None):
            log.warning("storing or publishing fetched messages failed", error=_describe(error))
        if cancelled:
            raise asyncio.CancelledError
        if failure is None and error is not None:
            raise error


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
