"""serve_until: a stop is honoured while the service is still starting; shutdown always runs."""

from __future__ import annotations

import asyncio

import pytest

from intake.shared.lifecycle import serve_until


class FakeService:
    def __init__(self, *, start_blocks: bool = False, start_fails: bool = False) -> None:
        self.start_blocks = start_blocks
        self.start_fails = start_fails
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")
        if self.start_fails:
            raise ConnectionError("database never came up")
        if self.start_blocks:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.events.append("start cancelled")
                raise
        self.events.append("started")

    async def shutdown(self) -> None:
        self.events.append("shutdown")


async def test_runs_until_stop_then_shuts_down() -> None:
    service, stop = FakeService(), asyncio.Event()
    task = asyncio.create_task(serve_until(stop, service.start, service.shutdown))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert service.events == ["start", "started"]
    stop.set()
    await task
    assert service.events == ["start", "started", "shutdown"]


async def test_stop_while_starting_cancels_the_start() -> None:
    service, stop = FakeService(start_blocks=True), asyncio.Event()
    task = asyncio.create_task(serve_until(stop, service.start, service.shutdown))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert service.events == ["start", "start cancelled", "shutdown"]


async def test_failed_start_raises_after_shutdown() -> None:
    service, stop = FakeService(start_fails=True), asyncio.Event()
    with pytest.raises(ConnectionError):
        await serve_until(stop, service.start, service.shutdown)
    assert service.events == ["start", "shutdown"]
