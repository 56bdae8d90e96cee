"""The email log built from real `message.fetched` / `message.processed` events on RabbitMQ, in either order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from faststream.rabbit import RabbitBroker

from intake.shared import topology
from intake.shared.bus import publish
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from tests.integration.config_api.conftest import eventually

FETCHED_AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
RAW = "ab" * 32


def fetched(uid: int = 7, **changes: Any) -> MessageFetched:
    values: dict[str, Any] = {
        "inbox_id": 1,
        "uidvalidity": 42,
        "uid": uid,
        "raw_sha256": RAW,
        "size": 1234,
        "message_id": f"<m{uid}@example.com>",
        "sender": "alice@example.com",
        "subject": "Printer on fire",
        "fetched_at": FETCHED_AT,
    }
    return MessageFetched(**(values | changes))


def processed(uid: int = 7, **changes: Any) -> MessageProcessed:
    values: dict[str, Any] = {
        "inbox_id": 1,
        "uidvalidity": 42,
        "uid": uid,
        "raw_sha256": RAW,
        "message_id": f"<m{uid}@example.com>",
        "outcome": Outcome.ISSUE_CREATED,
        "reason": "new issue #12",
        "issue_number": 12,
        "attempts": 1,
        "processed_at": FETCHED_AT + timedelta(seconds=2),
    }
    return MessageProcessed(**(values | changes))


async def rows(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/email-log")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_fetched_then_processed_completes_one_row(client: httpx.AsyncClient, publisher: RabbitBroker) -> None:
    await publish(publisher, fetched(), topology.MESSAGE_FETCHED)
    pending = await eventually(lambda: rows(client))
    assert pending == [
        {
            "id": pending[0]["id"],
            "inbox_id": 1,
            "uidvalidity": 42,
            "uid": 7,
            "message_id": "<m7@example.com>",
            "from": "alice@example.com",
            "subject": "Printer on fire",
            "size": 1234,
            "fetched_at": "2025-03-01T09:30:00Z",
            "processed_at": None,
            "outcome": "pending",
            "reason": None,
            "issue_number": None,
            "attempts": None,
        }
    ]

    await publish(publisher, processed(), topology.MESSAGE_PROCESSED)
    [row] = await eventually(lambda: _completed(client))
    assert row["id"] == pending[0]["id"]
    assert (row["outcome"], row["reason"], row["issue_number"], row["attempts"]) == (
        "issue_created",
        "new issue #12",
        12,
        1,
    )
    assert row["processed_at"] == "2025-03-01T09:30:02Z"


async def _completed(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    """The log once it is one row with both the fetch fields and the outcome."""
    items = await rows(client)
    return items if len(items) == 1 and items[0]["outcome"] == "issue_created" and items[0]["size"] else None


async def test_redelivered_events_keep_one_row(
    client: httpx.AsyncClient, publisher: RabbitBroker, db: asyncpg.Connection
) -> None:
    for _ in range(2):
        await publish(publisher, fetched(), topology.MESSAGE_FETCHED)
        await publish(publisher, processed(), topology.MESSAGE_PROCESSED)
    # A marker published last on each queue: once it is logged, everything before it was consumed.
    await publish(publisher, fetched(uid=8), topology.MESSAGE_FETCHED)
    await publish(publisher, processed(uid=8), topology.MESSAGE_PROCESSED)
    await eventually(lambda: _uid_done(client, 8))

    [row] = [r for r in await rows(client) if r["uid"] == 7]
    assert row["outcome"] == "issue_created"
    assert row["size"] == 1234
    assert await db.fetchval("SELECT count(*) FROM config.email_log") == 2


async def test_processed_before_fetched_ends_complete(
    client: httpx.AsyncClient, publisher: RabbitBroker, db: asyncpg.Connection
) -> None:
    await publish(publisher, processed(), topology.MESSAGE_PROCESSED)
    [early] = await eventually(lambda: rows(client))
    assert early["outcome"] == "issue_created"
    assert (early["from"], early["size"], early["fetched_at"]) == (None, None, None)

    await publish(publisher, fetched(), topology.MESSAGE_FETCHED)
    [row] = await eventually(lambda: _completed(client))
    assert row["id"] == early["id"]
    assert row["from"] == "alice@example.com"
    assert row["fetched_at"] == "2025-03-01T09:30:00Z"
    assert row["reason"] == "new issue #12"
    assert await db.fetchval("SELECT count(*) FROM config.email_log") == 1


async def test_an_older_outcome_does_not_replace_a_newer_one(
    client: httpx.AsyncClient, publisher: RabbitBroker
) -> None:
    later = processed(outcome=Outcome.ISSUE_UPDATED, reason="appended to #12", attempts=2)
    later = later.model_copy(update={"processed_at": FETCHED_AT + timedelta(minutes=5)})
    await publish(publisher, fetched(), topology.MESSAGE_FETCHED)
    await publish(publisher, later, topology.MESSAGE_PROCESSED)
    await eventually(lambda: _outcome_is(client, "issue_updated"))
    await publish(publisher, processed(), topology.MESSAGE_PROCESSED)  # the stale one, redelivered late
    await publish(publisher, fetched(uid=9), topology.MESSAGE_FETCHED)
    await publish(publisher, processed(uid=9), topology.MESSAGE_PROCESSED)
    await eventually(lambda: _uid_done(client, 9))

    [row] = [r for r in await rows(client) if r["uid"] == 7]
    assert (row["outcome"], row["attempts"]) == ("issue_updated", 2)


async def _outcome_is(client: httpx.AsyncClient, outcome: str) -> bool:
    return any(r["outcome"] == outcome for r in await rows(client))


async def _uid_done(client: httpx.AsyncClient, uid: int) -> bool:
    """Whether both queues' events for `uid` are recorded: the two consumers commit independently, so
    an outcome recorded says nothing about the fetch queue."""
    return any(r["uid"] == uid and r["outcome"] != "pending" and r["fetched_at"] for r in await rows(client))


async def test_an_undecodable_event_is_dead_lettered(
    client: httpx.AsyncClient, publisher: RabbitBroker, amqp_url: str
) -> None:
    await publisher.publish(
        b'{"not": "a contract", "password": "hunter2"}',
        exchange=topology.EXCHANGE,
        routing_key=topology.MESSAGE_FETCHED,
        persist=True,
        mandatory=True,
    )
    queue = await publisher.declare_queue(topology.dead_letter_queue())
    message = await eventually(lambda: queue.get(fail=False, no_ack=True))
    assert message.body == b'{"not": "a contract", "password": "hunter2"}'
    assert await rows(client) == []


async def test_an_event_during_a_short_database_outage_is_recorded_afterwards(
    client: httpx.AsyncClient, publisher: RabbitBroker, db: asyncpg.Connection
) -> None:
    # Without its table every delivery fails; immediate requeues would dead-letter it within milliseconds.
    await db.execute("ALTER TABLE config.email_log RENAME TO email_log_away")
    await publish(publisher, fetched(uid=99), topology.MESSAGE_FETCHED)
    await asyncio.sleep(2.5)  # the outage: longer than immediate retries take, shorter than 1 + 2 + 4 s
    await db.execute("ALTER TABLE config.email_log_away RENAME TO email_log")

    async def recorded() -> list[dict[str, Any]] | None:
        found = [row for row in await rows(client) if row["uid"] == 99]
        return found or None

    (row,) = await eventually(recorded, timeout=30)
    assert row["outcome"] == "pending"


async def test_a_late_failed_never_hides_a_committed_outcome(
    client: httpx.AsyncClient, publisher: RabbitBroker
) -> None:
    committed = processed(uid=31)
    # The ingestor committed, its publish was lost, its last delivery then published `failed`.
    failed = processed(
        uid=31,
        outcome=Outcome.FAILED,
        reason="processing failed 6 times",
        issue_number=None,
        attempts=6,
        processed_at=committed.processed_at + timedelta(seconds=30),
    )
    for event in (committed, failed):
        await publish(publisher, event, topology.MESSAGE_PROCESSED)
    # A marker published last: once it is recorded, both events before it were handled.
    await publish(publisher, processed(uid=32), topology.MESSAGE_PROCESSED)

    async def both_handled() -> list[dict[str, Any]] | None:
        found = {row["uid"]: row for row in await rows(client)}
        return [found[31]] if 32 in found and 31 in found else None

    (row,) = await eventually(both_handled)
    assert (row["outcome"], row["issue_number"]) == ("issue_created", 12)


async def test_a_committed_outcome_replaces_an_earlier_failed(
    client: httpx.AsyncClient, publisher: RabbitBroker
) -> None:
    committed = processed(uid=41)
    # `failed` seen first, with a later time than the committed outcome re-emitted on a replay.
    failed = processed(
        uid=41,
        outcome=Outcome.FAILED,
        reason="processing failed 6 times",
        issue_number=None,
        attempts=6,
        processed_at=committed.processed_at + timedelta(seconds=30),
    )
    for event in (failed, committed):
        await publish(publisher, event, topology.MESSAGE_PROCESSED)

    async def completed() -> list[dict[str, Any]] | None:
        found = [row for row in await rows(client) if row["uid"] == 41 and row["outcome"] == "issue_created"]
        return found or None

    (row,) = await eventually(completed)
    assert row["issue_number"] == 12


async def test_the_correlation_id_of_the_delivery_is_kept_and_shown_in_the_detail(
    client: httpx.AsyncClient, publisher: RabbitBroker
) -> None:
    await publish(publisher, processed(), topology.MESSAGE_PROCESSED, correlation="4f1c0ffee")
    await publish(publisher, fetched(), topology.MESSAGE_FETCHED, correlation="4f1c0ffee")
    [row] = await eventually(lambda: _completed(client))
    detail = (await client.get(f"/api/v1/email-log/{row['id']}")).json()
    assert detail["correlation_id"] == "4f1c0ffee"
