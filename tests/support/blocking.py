"""Running a coroutine to completion from synchronous test code, even while another event loop runs.

Playwright's synchronous API keeps its own event loop marked as running in the test's thread, so a
plain `asyncio.run` there fails; `run_blocking` runs the coroutine in a worker thread instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def fetchval(database_url: str, statement: str, *args: object) -> Any:
    """One value from one statement on the test's database, from synchronous test code."""
    import asyncpg

    async def go() -> Any:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval(statement, *args)
        finally:
            await conn.close()

    return run_blocking(go())
