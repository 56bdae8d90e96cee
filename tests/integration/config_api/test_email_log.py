"""GET /api/v1/email-log over rows recorded in PostgreSQL: each filter, and keyset pagination with cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from intake.config_api.email_log import record_fetched, record_processed
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome

START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
async def logged(app: FastAPI, db: asyncpg.Connection) -> None:
    """20 messages over two inboxes a minute apart; uid 1..20; even uids processed, every fourth ignored."""
    for uid in range(1, 21):
        inbox_id = 1 if uid <= 10 else 2
        fetched_at = START + timedelta(minutes=uid)
        await record_fetched(
            db,
            MessageFetched(
                inbox_id=inbox_id,
                uidvalidity=1,
                uid=uid,
                raw_sha256=f"{uid:064x}",
                size=100 + uid,
                sender="bob@acme.example" if uid % 3 == 0 else "carol@other.example",
                subject=f"Order 100% #{uid}" if uid % 5 == 0 else f"Hello {uid}",
                fetched_at=fetched_at,
            ),
        )
        if uid % 2 == 0:
            await record_processed(
                db,
                MessageProcessed(
                    inbox_id=inbox_id,
                    uidvalidity=1,
                    uid=uid,
                    raw_sha256=f"{uid:064x}",
                    outcome=Outcome.IGNORED_SENDER if uid % 4 == 0 else Outcome.ISSUE_CREATED,
                    reason="because",
                    attempts=1,
                    processed_at=fetched_at + timedelta(seconds=1),
                ),
            )


async def uids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get("/api/v1/email-log", params=params)
    assert response.status_code == 200, response.text
    return [row["uid"] for row in response.json()["items"]]


@pytest.mark.usefixtures("logged")
async def test_newest_first_without_filters(client: httpx.AsyncClient) -> None:
    assert await uids(client) == list(range(20, 0, -1))


@pytest.mark.usefixtures("logged")
async def test_filters(client: httpx.AsyncClient) -> None:
    assert await uids(client, inbox_id=1) == list(range(10, 0, -1))
    assert await uids(client, outcome="pending") == list(range(19, 0, -2))
    assert await uids(client, outcome="ignored_sender") == [20, 16, 12, 8, 4]
    assert await uids(client, outcome="issue_created", inbox_id=2) == [18, 14]
    assert await uids(client, since="2025-01-01T00:18:00Z") == [20, 19, 18]
    assert await uids(client, until="2025-01-01T00:03:00") == [2, 1]  # naive means UTC; until is exclusive
    assert await uids(client, sender="ACME") == [18, 15, 12, 9, 6, 3]
    assert await uids(client, q="100%") == [20, 15, 10, 5]
    assert await uids(client, q="_") == []  # wildcards are literal


@pytest.mark.usefixtures("logged")
async def test_cursor_pages_through_everything_once(client: httpx.AsyncClient) -> None:
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 6, "inbox_id": 2} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/api/v1/email-log", params=params)).json()
        seen += [row["uid"] for row in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(20, 10, -1))
    assert pages == 2


@pytest.mark.usefixtures("logged")
async def test_exact_page_has_no_next_cursor(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/email-log", params={"limit": 10, "inbox_id": 1})).json()
    assert len(body["items"]) == 10
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"outcome": "exploded"}, "outcome"),
        ({"since": "yesterday"}, "since"),
    ],
)
async def test_bad_parameters_are_field_errors(client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    response = await client.get("/api/v1/email-log", params=params)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]
