"""Inbox health from real `inbox.status` events: newest report wins, redelivery is harmless, bad bodies dead-letter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import httpx
from faststream.rabbit import RabbitBroker

from intake.shared import topology
from intake.shared.bus import publish
from intake.shared.contracts import InboxState, InboxStatus
from tests.integration.config_api.conftest import eventually

AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def report(inbox_id: int, minutes: int, **changes: Any) -> InboxStatus:
    values: dict[str, Any] = {
        "inbox_id": inbox_id,
        "state": InboxState.OK,
        "last_success_at": AT + timedelta(minutes=minutes),
        "consecutive_failures": 0,
        "push": True,
        "reported_at": AT + timedelta(minutes=minutes),
    }
    return InboxStatus(**(values | changes))


async def new_inbox(client: httpx.AsyncClient, email: str = "desk@example.com") -> int:
    body = {"provider": "zoho", "email": email, "password": "pw"}
    inbox_id: int = (await client.post("/api/v1/inboxes", json=body)).json()["id"]
    return inbox_id


async def status(client: httpx.AsyncClient, inbox_id: int) -> dict[str, Any]:
    shown: dict[str, Any] = (await client.get(f"/api/v1/inboxes/{inbox_id}")).json()["status"]
    return shown


async def test_reports_are_shown_newest_first_wins(client: httpx.AsyncClient, publisher: RabbitBroker) -> None:
    inbox_id = await new_inbox(client)
    await publish(publisher, report(inbox_id, 10), topology.INBOX_STATUS)

    async def shown_ok() -> dict[str, Any] | None:
        shown = await status(client, inbox_id)
        return shown if shown["state"] == "ok" else None

    assert await eventually(shown_ok) == {
        "state": "ok",
        "last_success_at": "2025-06-01T08:10:00Z",
        "last_error": None,
        "consecutive_failures": 0,
        "push": True,
        "reported_at": "2025-06-01T08:10:00Z",
    }
    failing = report(
        inbox_id,
        20,
        state=InboxState.ERROR,
        last_success_at=AT + timedelta(minutes=10),
        last_error="connection refused",
        consecutive_failures=2,
    )
    older = report(inbox_id, 5, state=InboxState.NEEDS_REAUTH)
    for event in (failing, older, failing):  # an older report and a redelivery change nothing
        await publish(publisher, event, topology.INBOX_STATUS)
    other = await new_inbox(client, "marker@example.com")
    await publish(publisher, report(other, 1), topology.INBOX_STATUS)  # published last: consumed last

    async def marker_seen() -> bool:
        return (await status(client, other))["state"] == "ok"

    await eventually(marker_seen)
    assert await status(client, inbox_id) == {
        "state": "error",
        "last_success_at": "2025-06-01T08:10:00Z",
        "last_error": "connection refused",
        "consecutive_failures": 2,
        "push": True,
        "reported_at": "2025-06-01T08:20:00Z",
    }


async def test_report_for_a_deleted_inbox_is_dropped(
    client: httpx.AsyncClient, publisher: RabbitBroker, db: asyncpg.Connection
) -> None:
    await publish(publisher, report(424242, 1), topology.INBOX_STATUS)
    marker = await new_inbox(client)
    await publish(publisher, report(marker, 1), topology.INBOX_STATUS)

    async def marker_seen() -> bool:
        return (await status(client, marker))["state"] == "ok"

    await eventually(marker_seen)
    assert await db.fetchval("SELECT array_agg(inbox_id) FROM config.inbox_status") == [marker]


async def test_undecodable_report_is_dead_lettered(
    client: httpx.AsyncClient, publisher: RabbitBroker, amqp_url: str
) -> None:
    await publisher.publish(
        b'{"inbox_id": "x"}', exchange=topology.EXCHANGE, routing_key=topology.INBOX_STATUS, persist=True
    )

    async def dead_letters() -> int:
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(topology.DEAD_LETTER_QUEUE_NAME, passive=True)
            return queue.declaration_result.message_count or 0
        finally:
            await connection.close()

    assert await eventually(dead_letters) == 1
