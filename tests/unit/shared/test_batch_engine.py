"""batch_engine.BatchEngine without a broker: gathering, weights, putting back at the front, several
workers, a failing batch, and the two steps of stopping with queued, running and alone work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from intake.shared.batch_engine import BatchEngine


class Recorder:
    """A `run` that records each batch; while `hold` is clear, batches wait for it before returning."""

    def __init__(self, *, hold: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, batch: list[int]) -> None:
        self.batches.append(batch)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


async def test_items_put_within_the_gather_wait_make_one_batch() -> None:
    run = Recorder()
    engine = BatchEngine(run, batch_size=10, gather_seconds=0.05)
    for item in range(3):
        engine.put(item)
        await asyncio.sleep(0.005)
    await until(lambda: bool(run.batches))
    assert run.batches == [[0, 1, 2]]
    await engine.stop_batches(1.0)


async def test_a_full_batch_is_taken_without_waiting_and_batches_are_at_most_batch_size() -> None:
    run = Recorder()
    engine = BatchEngine(run, batch_size=4, gather_seconds=60.0)
    for item in range(8):
        engine.put(item)
    await until(lambda: len(run.batches) == 2)
    assert run.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    await engine.stop_batches(1.0)


@pytest.mark.parametrize(
    ("weights", "batches"),
    [
        ([3, 3, 3, 1], [[0], [1], [2, 3]]),
        ([1, 2, 1, 1], [[0, 1, 2], [3]]),
        ([9, 1], [[0], [1]]),  # heavier than a batch: taken alone, never stuck
    ],
)
async def test_a_batch_takes_items_from_the_front_up_to_batch_size_by_weight(
    weights: list[int], batches: list[list[int]]
) -> None:
    run = Recorder()
    engine = BatchEngine(run, batch_size=4, gather_seconds=0.0, weight=lambda item: weights[item])
    for item in range(len(weights)):
        engine.put(item)
    await until(lambda: sum(map(len, run.batches)) == len(weights))
    assert run.batches == batches
    await engine.stop_batches(1.0)


async def test_items_put_back_at_the_front_start_the_next_batch_in_their_order() -> None:
    batches: list[list[int]] = []

    async def run(batch: list[int]) -> None:
        batches.append(batch)
        if len(batches) == 1:
            engine.put(9)  # arrives while the batch runs
            engine.put_front([batch[2], batch[1]])

    engine = BatchEngine(run, batch_size=3, gather_seconds=0.01)
    for item in range(3):
        engine.put(item)
    await until(lambda: len(batches) == 2)
    assert batches == [[0, 1, 2], [2, 1, 9]]
    await engine.stop_batches(1.0)


async def test_several_workers_run_batches_at_once() -> None:
    run = Recorder(hold=True)
    engine = BatchEngine(run, batch_size=2, gather_seconds=0.0, workers=2)
    for item in range(6):
        engine.put(item)
    await until(lambda: run.running == 2)
    run.release.set()
    await until(lambda: sum(map(len, run.batches)) == 6)
    assert run.most_at_once == 2
    assert sorted(item for batch in run.batches for item in batch) == list(range(6))
    await engine.stop_batches(1.0)


async def test_a_failing_batch_leaves_the_worker_taking_the_next() -> None:
    batches: list[list[int]] = []

    async def run(batch: list[int]) -> None:
        batches.append(batch)
        if batch == [0]:
            raise RuntimeError("this batch could not be settled")

    engine = BatchEngine(run, batch_size=1, gather_seconds=0.0)
    engine.put(0)
    engine.put(1)
    await until(lambda: len(batches) == 2)
    assert batches == [[0], [1]]
    await engine.stop_batches(1.0)


async def test_stopping_waits_for_the_running_batch_and_hands_back_what_is_queued() -> None:
    run = Recorder(hold=True)
    engine = BatchEngine(run, batch_size=2, gather_seconds=0.0)
    for item in range(5):
        engine.put(item)
    await until(lambda: run.running == 1)
    stopping = asyncio.create_task(engine.stop_batches(5.0))
    await asyncio.sleep(0.01)
    assert engine.closing
    assert not stopping.done()  # the running batch is waited for
    run.release.set()
    assert await stopping == [2, 3, 4]
    assert run.batches == [[0, 1]]  # nothing more was taken
    with pytest.raises(RuntimeError, match="stopping"):
        engine.put(5)  # a late item is refused: no worker would take it
    assert run.batches == [[0, 1]]
    assert await engine.stop_batches(1.0) == []


async def test_a_batch_still_running_when_the_wait_ends_is_cancelled() -> None:
    run = Recorder(hold=True)
    engine = BatchEngine(run, batch_size=1, gather_seconds=0.0)
    engine.put(0)
    await until(lambda: run.running == 1)
    assert await engine.stop_batches(0.01) == []
    assert run.running == 0  # cancelled: its `finally` ran


@pytest.mark.parametrize("cancel_late", [True, False])
async def test_alone_work_is_waited_for_and_cancelled_late_only_if_asked(cancel_late: bool) -> None:
    engine: BatchEngine[int] = BatchEngine(Recorder(), batch_size=1, gather_seconds=0.0)
    finished: list[str] = []
    slow_may_end = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0.01)
        finished.append("quick")

    async def slow() -> None:
        try:
            await slow_may_end.wait()
            finished.append("slow")
        except asyncio.CancelledError:
            finished.append("slow cancelled")
            raise

    engine.alone(quick())
    engine.alone(slow())
    await engine.stop_batches(1.0)
    await engine.stop_alone(0.1, cancel_late=cancel_late)
    await asyncio.sleep(0)
    assert finished[0] == "quick"
    if cancel_late:
        assert finished == ["quick", "slow cancelled"]
    else:
        assert finished == ["quick"]
        slow_may_end.set()
        await until(lambda: len(finished) == 2)
        assert finished == ["quick", "slow"]


async def test_stopping_an_engine_never_started_hands_back_nothing() -> None:
    engine: BatchEngine[int] = BatchEngine(Recorder(), batch_size=3, gather_seconds=0.0)
    assert await engine.stop_batches(1.0) == []
    await engine.stop_alone(1.0, cancel_late=True)


def test_batch_size_and_workers_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchEngine(Recorder(), batch_size=0, gather_seconds=0.0)
