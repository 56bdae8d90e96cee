"""The one batch engine: held items taken a batch at a time by a few workers, and how they stop.

Owns the queue of held items and nothing about what they are: `run` (the consumer's policy) does a
batch's work and settles it. A worker waits `gather_seconds` for more when fewer than a full batch are
queued, then takes from the front as many items as weigh at most `batch_size` in all (one at least;
`weight=None` counts each item as one, without a call per item). Items a batch could not take yet go
back to the front (`put_front`); work done apart from the batches runs as tracked "alone" tasks.

Stopping has two steps, so a consumer can act between them: `stop_batches` takes no more, waits for the
batches running and hands back what is still queued; `stop_alone` waits for the alone tasks.
Must not: know about RabbitMQ, settle anything itself, or await per item.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class BatchEngine(Generic[T]):
    """Feeds `run` batches of the items `put` in (see the module docstring)."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[None]],
        *,
        batch_size: int,
        gather_seconds: float,
        workers: int = 1,
        weight: Callable[[T], int] | None = None,
        name: str = "batches",
    ) -> None:
        if batch_size < 1 or workers < 1:
            raise ValueError("batch_size and workers must be at least 1")
        self._run = run
        self._batch_size = batch_size
        self._gather_seconds = gather_seconds
        self._worker_count = workers
        self._weight = weight
        self._name = name
        self._queued: deque[T] = deque()
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._alone: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once `stop_batches` was called: nothing more is taken."""
        return self._closing

    def start(self) -> None:
        """Start the workers (once; never again after `stop_batches`). `put` starts them too."""
        if not self._workers and not self._closing:
            self._workers = [
                asyncio.create_task(self._work(), name=f"{self._name}:{number}") for number in range(self._worker_count)
            ]

    def put(self, item: T) -> None:
        """Queue `item` at the back. Refused (RuntimeError) once `stop_batches` was called: no worker
        would ever take it, and a caller waiting for it to be settled would wait forever."""
        if self._closing:
            raise RuntimeError(f"{self._name}: stopping, no more items are taken")
        self._queued.append(item)
        if not self._workers:
            self.start()
        self._wake.set()

    def put_front(self, items: Sequence[T]) -> None:
        """Queue `items` at the front, in their order: the next batch starts with them."""
        self._queued.extendleft(reversed(items))
        self._wake.set()

    def holds(self, item: T) -> bool:
        """Whether `item` is queued (taken by no batch yet, or put back)."""
        return item in self._queued

    def alone(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` apart from the batches, as a task `stop_alone` waits for."""
        task = asyncio.create_task(work)
        self._alone.add(task)
        task.add_done_callback(self._alone.discard)

    async def _work(self) -> None:
        while not self._closing:
            await self._wake.wait()
            queued = len(self._queued) if self._weight is None else sum(map(self._weight, self._queued))
            if 0 < queued < self._batch_size:
                await asyncio.sleep(self._gather_seconds)
            if self._closing:
                return
            batch = self._take()
            if not self._queued:
                self._wake.clear()
            if not batch:
                continue
            try:
                await self._run(batch)
            except Exception as error:  # `run` settles its own failures; a worker outlives what it missed.
                log.error("a batch could not be settled", error=f"{type(error).__name__}: {error}")

    def _take(self) -> list[T]:
        """Queued items from the front, as many as weigh at most `batch_size` (one at least)."""
        queued = self._queued
        weight = self._weight
        if weight is None:
            return [queued.popleft() for _ in range(min(self._batch_size, len(queued)))]
        batch: list[T] = []
        taken = 0
        while queued:
            next_weight = weight(queued[0])
            if batch and taken + next_weight > self._batch_size:
                break
            batch.append(queued.popleft())
            taken += next_weight
        return batch

    async def stop_batches(self, wait_seconds: float) -> list[T]:
        """Take no more; wait up to `wait_seconds` for the batches running, cancel those still running
        then; hand back the items still queued (the engine holds them no longer)."""
        self._closing = True
        self._wake.set()
        if self._workers:
            _, late = await asyncio.wait(self._workers, timeout=wait_seconds)
            for task in late:
                task.cancel()
            for task in self._workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._workers = []
        queued = list(self._queued)
        self._queued.clear()
        return queued

    async def stop_alone(self, wait_seconds: float, *, cancel_late: bool) -> None:
        """Wait up to `wait_seconds` for the alone tasks; with `cancel_late`, cancel those still running."""
        if not self._alone:
            return
        _, late = await asyncio.wait(set(self._alone), timeout=wait_seconds)
        if cancel_late:
            for task in late:
                task.cancel()
