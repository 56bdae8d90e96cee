"""commit_pipeline.CommitPipeline: stores in fetch order one at a time, publishes overlapping, errors once."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable

import pytest
from structlog.testing import capture_logs

from intake.fetcher.commit_pipeline import CommitPipeline


class Batches:
    """Fake store and publish steps that the test releases by hand, recording what happened in which order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.store_gates: dict[int, asyncio.Event] = {}
        self.publish_gates: dict[int, asyncio.Event] = {}
        self.store_errors: dict[int, Exception] = {}
        self.publish_errors: dict[int, Exception] = {}

    def steps(self, n: int) -> tuple[Callable[[], Awaitable[int]], Callable[[int], Awaitable[None]]]:
        self.store_gates[n] = asyncio.Event()
        self.publish_gates[n] = asyncio.Event()

        async def store() -> int:
            self.events.append(f"store {n} starts")
            await self.store_gates[n].wait()
            if n in self.store_errors:
                raise self.store_errors[n]
            self.events.append(f"store {n} done")
            return n

        async def publish(stored: int) -> None:
            assert stored == n
            self.events.append(f"publish {n} starts")
            await self.publish_gates[n].wait()
            if n in self.publish_errors:
                raise self.publish_errors[n]
            self.events.append(f"publish {n} done")

        return store, publish

    def release(self, *numbers: int) -> None:
        for n in numbers:
            self.store_gates[n].set()
            self.publish_gates[n].set()


async def settled_soon() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def submit(pipeline: CommitPipeline, batches: Batches, n: int) -> None:
    store, publish = batches.steps(n)
    await pipeline.submit(store, publish)


async def test_the_next_store_waits_for_the_previous_store_but_not_for_its_publish() -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    second = asyncio.create_task(submit(pipeline, batches, 2))
    await settled_soon()
    assert not second.done()  # batch 1 is not stored yet: batch 2's checkpoint would pass its UIDs
    assert batches.events == ["store 1 starts"]
    batches.store_gates[1].set()
    await second
    await settled_soon()
    # Batch 1 is still publishing (its confirms not in) while batch 2 is being stored.
    assert batches.events == ["store 1 starts", "store 1 done", "publish 1 starts", "store 2 starts"]
    batches.release(1, 2)
    await pipeline.settle()
    assert {"publish 1 done", "publish 2 done"} <= set(batches.events)
    assert pipeline.unsettled == 0


async def test_no_more_than_depth_batches_are_unsettled() -> None:
    pipeline, batches = CommitPipeline(depth=2), Batches()
    await submit(pipeline, batches, 1)
    batches.store_gates[1].set()
    await submit(pipeline, batches, 2)
    batches.store_gates[2].set()
    third = asyncio.create_task(submit(pipeline, batches, 3))
    await settled_soon()
    assert not third.done()  # 1 and 2 are publishing
    batches.publish_gates[1].set()
    await third
    assert pipeline.unsettled == 2
    batches.release(2, 3)
    await pipeline.settle()
    assert pipeline.unsettled == 0


async def test_a_failed_store_stops_the_next_batch_and_is_raised_once() -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    batches.store_errors[1] = RuntimeError("database gone")
    batches.store_gates[1].set()
    with pytest.raises(RuntimeError, match="database gone"):
        await submit(pipeline, batches, 2)
    assert "store 2 starts" not in batches.events
    assert pipeline.unsettled == 0
    await pipeline.settle()  # nothing left to raise


async def test_a_failed_publish_is_raised_once_and_later_batches_still_finish() -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    batches.publish_errors[1] = RuntimeError("channel closed")
    batches.store_gates[1].set()
    await submit(pipeline, batches, 2)
    batches.release(1, 2)
    with pytest.raises(RuntimeError, match="channel closed"):
        await pipeline.settle()
    assert "publish 2 done" in batches.events
    await pipeline.settle()


async def test_a_finished_failed_publish_is_raised_by_the_next_submit_instead_of_starting_it() -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    batches.publish_errors[1] = RuntimeError("nacked")
    batches.release(1)
    await settled_soon()
    with pytest.raises(RuntimeError, match="nacked"):
        await submit(pipeline, batches, 2)
    assert "store 2 starts" not in batches.events


async def test_a_cancelled_caller_leaves_the_started_batches_running_for_settle() -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    waiting = asyncio.create_task(submit(pipeline, batches, 2))
    await settled_soon()
    waiting.cancel()  # the inbox loop is stopped (a lease released) while batch 1 is being stored
    with pytest.raises(asyncio.CancelledError):
        await waiting
    batches.release(1)
    await pipeline.settle()
    assert batches.events == ["store 1 starts", "store 1 done", "publish 1 starts", "publish 1 done"]


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CommitPipeline(depth=0)


@pytest.fixture
async def unhandled() -> list[dict[str, object]]:
    """What the event loop reports as unhandled ('exception was never retrieved'); must stay empty."""
    reports: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: reports.append(context))
    return reports


async def test_finish_outlasts_repeated_cancels_and_then_raises_the_cancellation(
    unhandled: list[dict[str, object]],
) -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    batches.store_gates[1].set()
    stopping = asyncio.create_task(pipeline.finish())
    for _ in range(3):  # the fetcher's supervisor cancels a stopping loop again every second
        await settled_soon()
        stopping.cancel()
    await settled_soon()
    assert not stopping.done()  # still waiting for batch 1's confirms
    batches.publish_gates[1].set()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert batches.events[-1] == "publish 1 done"
    assert pipeline.unsettled == 0
    gc.collect()
    assert unhandled == []


async def test_finish_keeps_the_callers_own_error_and_logs_the_batches_error(
    unhandled: list[dict[str, object]],
) -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    batches.publish_errors[1] = RuntimeError("nacked")
    batches.release(1)
    with capture_logs() as logs:
        await pipeline.finish(failure=ConnectionResetError("imap connection lost"))  # the caller re-raises it
    assert [entry["error"] for entry in logs] == ["RuntimeError: nacked"]
    gc.collect()
    assert unhandled == []


async def test_finish_raises_the_batches_error_when_the_caller_has_none() -> None:
    pipeline, batches = CommitPipeline(depth=4), Batches()
    await submit(pipeline, batches, 1)
    batches.store_gates[1].set()
    await submit(pipeline, batches, 2)
    batches.publish_errors[1] = RuntimeError("nacked")
    batches.publish_errors[2] = RuntimeError("timed out")
    batches.release(1, 2)
    with capture_logs() as logs, pytest.raises(RuntimeError, match="nacked"):
        await pipeline.finish()
    assert [entry["error"] for entry in logs] == ["RuntimeError: timed out"]  # the second is not lost
