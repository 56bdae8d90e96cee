"""Readiness answers: each check ok, not started, failing or hanging, and the body naming what failed."""

from __future__ import annotations

import asyncio

from intake.shared.probes import NOT_STARTED, OK, UNREACHABLE, broker_check, check_readiness, database_check


class FakeBroker:
    def __init__(self, answer: bool | None, *, hang: bool = False) -> None:
        self.answer = answer
        self.hang = hang

    async def ping(self, timeout: float | None) -> bool:
        if self.hang:
            await asyncio.Event().wait()
        if self.answer is None:
            raise ConnectionError("connection reset")
        return self.answer


async def test_ready_when_every_check_is_ok() -> None:
    result = await check_readiness({"broker": broker_check(lambda: FakeBroker(True))})
    assert result.ready
    assert result.as_json() == {"status": "ready", "checks": {"broker": OK}}


async def test_a_connection_not_made_yet_is_not_started() -> None:
    result = await check_readiness({"database": database_check(lambda: None), "broker": broker_check(lambda: None)})
    assert not result.ready
    assert result.checks == {"database": NOT_STARTED, "broker": NOT_STARTED}


async def test_a_failing_or_false_check_is_unreachable_and_the_others_still_answer() -> None:
    result = await check_readiness(
        {
            "refused": broker_check(lambda: FakeBroker(False)),
            "raising": broker_check(lambda: FakeBroker(None)),
            "fine": broker_check(lambda: FakeBroker(True)),
        }
    )
    assert result.checks == {"refused": UNREACHABLE, "raising": UNREACHABLE, "fine": OK}
    assert result.as_json()["status"] == "not ready"


async def test_a_check_that_never_answers_is_unreachable_after_the_limit() -> None:
    result = await check_readiness({"broker": broker_check(lambda: FakeBroker(True, hang=True))}, limit_seconds=0.05)
    assert result.checks == {"broker": UNREACHABLE}
