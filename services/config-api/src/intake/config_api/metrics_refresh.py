"""Refreshing config-api's gauges from the sources of truth every few seconds: each inbox's state,
activity and poll interval from the database, and the dead-letter queue's depth from RabbitMQ.

Every replica reads the same database and queue, so every replica reports the same values. A failed
read keeps the last values and is logged; the next round tries again.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog
from faststream.rabbit import Channel, RabbitBroker

from intake.config_api.inbox_settings import shown_state
from intake.config_api.metrics import ConfigApiMetrics, InboxRow
from intake.shared import topology
from intake.shared.database import Executor

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 5.0
# A channel of its own for the passive declare: were the queue ever missing, RabbitMQ would close the
# channel it was asked on, and that must not be the one the API publishes on.
_PROBE_CHANNEL = Channel(prefetch_count=1, publisher_confirms=False)


async def read_inboxes(conn: Executor) -> list[InboxRow]:
    """Every inbox with the state the API shows for it (`unknown` sets no state to 1)."""
    rows = await conn.fetch(
        """SELECT i.id, i.active, i.poll_interval_seconds, s.state
           FROM config.inboxes AS i LEFT JOIN config.inbox_status AS s ON s.inbox_id = i.id"""
    )
    return [
        InboxRow(row["id"], shown_state(row["active"], row["state"]), row["active"], row["poll_interval_seconds"])
        for row in rows
    ]


async def dead_letter_count(broker: RabbitBroker) -> int:
    """Messages waiting in `intake.dead-letter`, from a passive declare (it changes nothing)."""
    channel = await broker.config.channel_manager.get_channel(_PROBE_CHANNEL)
    # robust=False: a robust channel answers a passive declare of a queue it remembers from its cache,
    # with the count of that first declare.
    queue = await channel.declare_queue(topology.DEAD_LETTER_QUEUE_NAME, passive=True, robust=False)
    return queue.declaration_result.message_count or 0


async def refresh_once(pool: asyncpg.Pool, broker: RabbitBroker, metrics: ConfigApiMetrics) -> None:
    try:
        metrics.refresh_inboxes(await read_inboxes(pool))
    except Exception as error:  # the database is down: keep the last values
        log.warning("inbox metrics not refreshed", error=f"{type(error).__name__}: {error}")
    try:
        metrics.dead_letters.set(await dead_letter_count(broker))
    except Exception as error:  # the broker is down: keep the last value
        log.warning("dead-letter count not refreshed", error=f"{type(error).__name__}: {error}")


async def run_refresh(
    pool: asyncpg.Pool, broker: RabbitBroker, metrics: ConfigApiMetrics, seconds: float = REFRESH_SECONDS
) -> None:
    """Refresh now and then every `seconds` until cancelled."""
    while True:
        await refresh_once(pool, broker, metrics)
        await asyncio.sleep(seconds)
