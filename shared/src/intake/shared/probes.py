"""Readiness: is a service's database pool and broker connection up, each checked with a short timeout.

`check_readiness` runs named checks concurrently and answers a `Readiness` value naming what failed;
liveness (`/healthz`) needs no check at all: answering proves the process and its event loop run.
Nothing here decides what to do about a failed check; the probe's caller (an orchestrator) does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# A check that has not answered by then counts as failed: a cut network never answers.
CHECK_TIMEOUT_SECONDS = 2.0

OK = "ok"
UNREACHABLE = "unreachable"
NOT_STARTED = "not started"

Check = Callable[[], Awaitable[str]]


class Pingable(Protocol):
    """What a readiness check needs of a broker (faststream's RabbitBroker is one)."""

    async def ping(self, timeout: float | None) -> bool: ...  # noqa: ASYNC109 (faststream's signature)


@dataclass(frozen=True)
class Readiness:
    """Each check's answer: `ok`, `not started` or `unreachable`."""

    checks: Mapping[str, str]

    @property
    def ready(self) -> bool:
        return all(answer == OK for answer in self.checks.values())

    def as_json(self) -> dict[str, object]:
        """The body of `/readyz`.

        >>> Readiness({"database": "ok", "broker": "unreachable"}).as_json()
        {'status': 'not ready', 'checks': {'database': 'ok', 'broker': 'unreachable'}}
        """
        return {"status": "ready" if self.ready else "not ready", "checks": dict(self.checks)}


async def _answer(name: str, check: Check, limit_seconds: float) -> str:
    try:
        return await asyncio.wait_for(check(), limit_seconds)
    except Exception as error:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness check failed", check=name, error=str(error) or type(error).__name__)
        return UNREACHABLE


async def check_readiness(checks: Mapping[str, Check], limit_seconds: float = CHECK_TIMEOUT_SECONDS) -> Readiness:
    """Run every check at once, each bounded by `limit_seconds`."""
    answers = await asyncio.gather(*(_answer(name, check, limit_seconds) for name, check in checks.items()))
    return Readiness(dict(zip(checks, answers, strict=True)))


def database_check(pool: Callable[[], asyncpg.Pool | None]) -> Check:
    """A check that the pool (`None` while the service starts) can run a query."""

    async def check() -> str:
        current = pool()
        if current is None:
            return NOT_STARTED
        await current.fetchval("SELECT 1")
        return OK

    return check


def broker_check(broker: Callable[[], Pingable | None]) -> Check:
    """A check that the broker connection (`None` while the service starts) answers."""

    async def check() -> str:
        current = broker()
        if current is None:
            return NOT_STARTED
        return OK if await current.ping(timeout=CHECK_TIMEOUT_SECONDS) else UNREACHABLE

    return check
