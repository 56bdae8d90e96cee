"""database_watch.DatabaseWatch with a hand-written probe: one probe for all waiters, bounded waits, stopping."""

from __future__ import annotations

import asyncio

from intake.ingestor.database_watch import DatabaseWatch, Wait


class Probe:
    """Fails until `up` is set; counts its calls."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if not self.up.is_set():
            raise ConnectionRefusedError("database down")


async def test_reachable_at_once() -> None:
    probe = Probe()
    probe.up.set()
    watch = DatabaseWatch(probe, max_delay=0.01)
    assert await watch.wait_until_reachable(10) is Wait.REACHABLE
    assert probe.calls == 1


async def test_all_waiters_share_one_probe_and_are_released_when_it_succeeds() -> None:
    probe = Probe()
    watch = DatabaseWatch(probe, max_delay=0.01)
    waiters = [asyncio.create_task(watch.wait_until_reachable(60)) for _ in range(20)]
    while probe.calls < 3:
        await asyncio.sleep(0.01)
    assert not any(waiter.done() for waiter in waiters)
    probe.up.set()
    assert await asyncio.gather(*waiters) == [Wait.REACHABLE] * 20
    calls = probe.calls
    # Far fewer probes than waiters: one loop, not one per message.
    assert calls < 20 + 3


async def test_wait_is_bounded() -> None:
    watch = DatabaseWatch(Probe(), max_delay=0.01)
    assert await watch.wait_until_reachable(0.05) is Wait.TIMED_OUT
    await watch.close()


async def test_close_releases_the_waiters() -> None:
    watch = DatabaseWatch(Probe(), max_delay=0.01)
    waiter = asyncio.create_task(watch.wait_until_reachable(60))
    await asyncio.sleep(0.02)
    await watch.close()
    assert await waiter is Wait.STOPPING
    assert await watch.wait_until_reachable(60) is Wait.STOPPING


async def test_a_new_outage_starts_a_new_probe() -> None:
    probe = Probe()
    probe.up.set()
    watch = DatabaseWatch(probe, max_delay=0.01)
    assert await watch.wait_until_reachable(10) is Wait.REACHABLE
    probe.up.clear()
    waiter = asyncio.create_task(watch.wait_until_reachable(60))
    while probe.calls < 3:
        await asyncio.sleep(0.01)
    assert not waiter.done()
    probe.up.set()
    assert await waiter is Wait.REACHABLE
