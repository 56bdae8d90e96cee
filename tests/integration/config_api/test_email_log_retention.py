"""Email log retention: rows older than the retention period are deleted in batches, newer ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from fastapi import FastAPI

from intake.config_api.app import create_app
from intake.config_api.email_log import delete_expired
from intake.config_api.email_log_recording import record_fetched
from intake.config_api.email_log_retention import clean_up_once
from intake.config_api.settings import ConfigApiSettings
from intake.shared.contracts import MessageFetched
from tests.integration.config_api.conftest import eventually


async def log_rows(db: asyncpg.Connection, ages_in_days: list[float]) -> None:
    now = datetime.now(UTC)
    for uid, age in enumerate(ages_in_days, start=1):
        await record_fetched(
            db,
            MessageFetched(
                inbox_id=1, uidvalidity=1, uid=uid, raw_sha256="a" * 64, size=1, fetched_at=now - timedelta(days=age)
            ),
        )


async def remaining_uids(db: asyncpg.Connection) -> list[int]:
    return [row["uid"] for row in await db.fetch("SELECT uid FROM config.email_log ORDER BY uid")]


@pytest.mark.usefixtures("app")
async def test_deletes_in_batches_only_what_is_older_than_the_cutoff(app: FastAPI, db: asyncpg.Connection) -> None:
    await log_rows(db, [100, 95, 91, 89, 0.5, 120, 300])
    pool = app.state.runtime.pool
    assert await delete_expired(pool, datetime.now(UTC) - timedelta(days=90), batch_size=2) == 5
    assert await remaining_uids(db) == [4, 5]
    assert await clean_up_once(pool, retention_days=2, batch_size=2) == 1
    assert await remaining_uids(db) == [5]


async def test_the_running_service_cleans_up_by_itself(
    settings: ConfigApiSettings, database_url: str, db: asyncpg.Connection
) -> None:
    short = settings.model_copy(update={"email_log_retention_days": 30, "email_log_cleanup_interval_seconds": 0.2})
    application = create_app(short, wait_seconds=5)
    async with application.router.lifespan_context(application):
        await log_rows(db, [31, 29])

        async def only_the_recent_one() -> bool:
            return await remaining_uids(db) == [2]

        await eventually(only_the_recent_one)


async def test_zero_keeps_everything(settings: ConfigApiSettings, db: asyncpg.Connection) -> None:
    forever = settings.model_copy(update={"email_log_retention_days": 0})
    application = create_app(forever, wait_seconds=5)
    async with application.router.lifespan_context(application):
        assert application.state.runtime._retention is None
