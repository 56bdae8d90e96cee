"""GET /api/v1/email-log over rows recorded in PostgreSQL: each filter, and keyset pagination with cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from intake.config_api.email_log_recording import record_fetched, record_processed
from intake.config_api.settings import ConfigApiSettings
from intake.shared import topology
from intake.shared.blobs import put_blob
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from intake.shared.migrations import migrate_blobs
from tests.integration.config_api.conftest import eventually

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
    assert await uids(client, since="2025-01-01T02:18:00+02:00") == [20, 19, 18]
    assert await uids(client, until="2025-01-01T00:03:00") == [2, 1]  # naive means UTC; until is exclusive
    assert await uids(client, sender="ACME") == [18, 15, 12, 9, 6, 3]
    assert await uids(client, sender="Bob@ACME.example") == [18, 15, 12, 9, 6, 3]  # a whole address
    assert await uids(client, sender="ob@acme.example") == []  # ... is not a substring
    assert await uids(client, sender="@Other.Example") == [20, 19, 17, 16, 14, 13, 11, 10, 8, 7, 5, 4, 2, 1]
    assert await uids(client, sender="@other") == []  # a domain is matched whole
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
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),  # before year 1 in UTC
        ({"until": "9999-12-31T23:59:59-14:00"}, "until"),  # after year 9999 in UTC
        ({"inbox_id": 2**63}, "inbox_id"),
        ({"sender": "a\u0000b"}, "sender"),
        ({"q": "\u0000"}, "q"),
    ],
)
async def test_bad_parameters_are_field_errors(client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    response = await client.get("/api/v1/email-log", params=params)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]
    if field in ("since", "until") and "T" in params[field]:
        assert (
            response.json()["detail"][0]["msg"] == "Value error, is outside the years 1 to 9999 once converted to UTC"
        )


# -- one row, its raw message, reprocess ------------------------------------------------------

RAW = (
    b"Received: from mx.example by imap.example\r\n"
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@acme.example>\r\n"
    b"Subject: Printer [#42]\r\n"
    b"Message-ID: <m1@acme.example>\r\n\r\n"
    b"It is on fire.\r\n"
)


async def add_row(
    db: asyncpg.Connection,
    uid: int,
    raw: bytes | None,
    outcome: Outcome | None,
    *,
    rejected: str | None = None,
    issue_number: int | None = None,
    attempts: int = 1,
) -> int:
    """A logged message whose raw bytes are `raw` (None: not in the blob store); returns the row id."""
    await migrate_blobs(db)
    sha = await put_blob(db, raw) if raw is not None else f"{uid:064x}"
    fetched_at = START + timedelta(minutes=uid)
    event = MessageFetched(
        inbox_id=1,
        uidvalidity=9,
        uid=uid,
        raw_sha256=sha,
        size=len(raw) if raw is not None else 99,
        message_id=f"<m{uid}@acme.example>",
        sender="j@acme.example",
        subject="Printer [#42]",
        fetched_at=fetched_at,
        rejected=rejected,
    )
    await record_fetched(db, event)
    if outcome is not None:
        await record_processed(
            db,
            MessageProcessed(
                inbox_id=1,
                uidvalidity=9,
                uid=uid,
                raw_sha256=sha,
                outcome=outcome,
                reason=f"reason of {outcome.value}",
                issue_number=issue_number,
                attempts=attempts,
                processed_at=fetched_at + timedelta(seconds=5),
            ),
        )
    row_id: int = await db.fetchval("SELECT id FROM config.email_log WHERE uid = $1", uid)
    return row_id


async def test_detail_has_headers_reason_and_issue(
    client: httpx.AsyncClient, app: FastAPI, tracker: asyncpg.Connection
) -> None:
    await tracker.execute(
        """INSERT INTO tracker.issues VALUES (42, 'Printer', 'open', 1, 'en', NULL, NULL, 'j@acme.example', NULL,
           1, now(), now())"""
    )
    row_id = await add_row(tracker, 1, RAW, Outcome.ISSUE_UPDATED, issue_number=42)
    response = await client.get(f"/api/v1/email-log/{row_id}")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["outcome"] == "issue_updated"
    assert detail["reason"] == "reason of issue_updated"
    assert detail["issue"] == {"number": 42, "title": "Printer", "status": "open"}
    assert detail["headers"] == [
        {"name": "Received", "value": "from mx.example by imap.example"},
        {"name": "From", "value": "Jürgen <j@acme.example>"},
        {"name": "Subject", "value": "Printer [#42]"},
        {"name": "Message-ID", "value": "<m1@acme.example>"},
    ]
    assert detail["raw_state"] == "complete"
    assert detail["reprocessable"] is False
    assert "already on issue #42" in detail["reprocess_refusal"]


async def test_detail_without_blob_store_or_tracker(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await record_fetched(
        db,
        MessageFetched(inbox_id=1, uidvalidity=1, uid=1, raw_sha256="c" * 64, size=1, fetched_at=START),
    )
    row_id = await db.fetchval("SELECT id FROM config.email_log")
    detail = (await client.get(f"/api/v1/email-log/{row_id}")).json()
    assert (detail["raw_state"], detail["headers"], detail["issue"]) == ("missing", [], None)
    assert (await client.get(f"/api/v1/email-log/{row_id}/raw")).status_code == 404


async def test_unknown_entry_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/email-log/77", "/api/v1/email-log/77/raw"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "no email log entry with id 77"}
    assert (await client.post("/api/v1/email-log/77/reprocess")).status_code == 404


async def test_raw_download(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    row_id = await add_row(db, 1, RAW, Outcome.ISSUE_CREATED, issue_number=1)
    response = await client.get(f"/api/v1/email-log/{row_id}/raw")
    assert response.status_code == 200
    assert response.content == RAW
    assert response.headers["content-type"] == "message/rfc822"
    assert response.headers["content-disposition"] == f'attachment; filename="email-log-{row_id}.eml"'
    assert response.headers["x-intake-raw-state"] == "complete"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_message_rejected_as_too_large_has_only_its_header(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    header = RAW.split(b"\r\n\r\n")[0] + b"\r\n"
    reason = "larger than the 25 MiB limit (31457280 bytes)"
    row_id = await add_row(db, 1, header, Outcome.REJECTED, rejected=reason)
    raw = await client.get(f"/api/v1/email-log/{row_id}/raw")
    assert raw.content == header
    assert raw.headers["x-intake-raw-state"] == "header_only"
    assert "header-only.eml" in raw.headers["content-disposition"]
    detail = (await client.get(f"/api/v1/email-log/{row_id}")).json()
    assert (detail["raw_state"], detail["fetch_rejected"], detail["reprocessable"]) == ("header_only", reason, False)
    assert detail["headers"][2] == {"name": "Subject", "value": "Printer [#42]"}
    refused = await client.post(f"/api/v1/email-log/{row_id}/reprocess")
    assert refused.status_code == 409
    assert "only the header of this message is stored" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        (None, "still pending"),
        (Outcome.ISSUE_CREATED, "already on issue #5"),
        (Outcome.ISSUE_UPDATED, "already on issue #5"),
        (Outcome.DUPLICATE, "duplicates"),
    ],
)
async def test_reprocess_refused_for_other_outcomes(
    client: httpx.AsyncClient, db: asyncpg.Connection, outcome: Outcome | None, words: str
) -> None:
    row_id = await add_row(db, 1, RAW, outcome, issue_number=5 if outcome else None)
    response = await client.post(f"/api/v1/email-log/{row_id}/reprocess")
    assert response.status_code == 409
    assert words in response.json()["detail"]


async def test_reprocess_refused_without_raw_bytes(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    row_id = await add_row(db, 1, None, Outcome.FAILED)
    response = await client.post(f"/api/v1/email-log/{row_id}/reprocess")
    assert response.status_code == 409
    assert "not in the blob store" in response.json()["detail"]


async def ingestor_copy(publisher: RabbitBroker, delivery_limit: int) -> MessageFetched | None:
    queue = await publisher.declare_queue(
        topology.work_queue(topology.INGESTOR_QUEUE, topology.MESSAGE_FETCHED, delivery_limit)
    )
    message = await queue.get(no_ack=True, fail=False)
    return None if message is None else MessageFetched.model_validate_json(message.body)


@pytest.mark.parametrize(
    "outcome",
    [Outcome.FAILED, Outcome.REJECTED, Outcome.IGNORED_SENDER, Outcome.UNMATCHED_IGNORED, Outcome.AUTO_GENERATED],
)
async def test_reprocess_replays_the_message(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    publisher: RabbitBroker,
    settings: ConfigApiSettings,
    outcome: Outcome,
) -> None:
    row_id = await add_row(db, 3, RAW, outcome, attempts=5)
    response = await client.post(f"/api/v1/email-log/{row_id}/reprocess")
    assert response.status_code == 200, response.text
    row = response.json()
    assert (row["outcome"], row["attempts"], row["processed_at"]) == ("pending", 5, None)
    assert row["reason"] == f"reprocessing requested (was {outcome.value}: reason of {outcome.value})"

    replayed = await eventually(lambda: ingestor_copy(publisher, settings.delivery_limit))
    assert replayed.replay is True
    assert (replayed.inbox_id, replayed.uidvalidity, replayed.uid) == (1, 9, 3)
    assert replayed.raw_sha256 == await db.fetchval("SELECT raw_sha256 FROM config.email_log WHERE id = $1", row_id)
    assert (replayed.size, replayed.fetched_at, replayed.rejected) == (len(RAW), START + timedelta(minutes=3), None)

    detail = (await client.get(f"/api/v1/email-log/{row_id}")).json()
    assert (detail["outcome"], detail["reprocessed_from"], detail["reprocessable"]) == ("pending", outcome.value, False)
    again = await client.post(f"/api/v1/email-log/{row_id}/reprocess")
    assert again.status_code == 409  # pending until the ingestor decides


async def test_after_reprocess_only_a_new_outcome_ends_pending(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    row_id = await add_row(db, 4, RAW, Outcome.IGNORED_SENDER)
    assert (await client.post(f"/api/v1/email-log/{row_id}/reprocess")).status_code == 200
    old = MessageProcessed(
        inbox_id=1,
        uidvalidity=9,
        uid=4,
        raw_sha256=await db.fetchval("SELECT raw_sha256 FROM config.email_log WHERE id = $1", row_id),
        outcome=Outcome.IGNORED_SENDER,
        reason="reason of ignored_sender",
        attempts=1,
        processed_at=START + timedelta(minutes=4, seconds=5),
    )
    await record_processed(db, old)  # a redelivery of the replaced outcome
    assert await db.fetchval("SELECT outcome FROM config.email_log WHERE id = $1", row_id) == "pending"
    new = old.model_copy(
        update={
            "outcome": Outcome.ISSUE_CREATED,
            "issue_number": 8,
            "reason": "new issue #8",
            "processed_at": START + timedelta(days=1),
        }
    )
    await record_processed(db, new)
    row = (await client.get(f"/api/v1/email-log/{row_id}")).json()
    assert (row["outcome"], row["issue_number"], row["reprocessed_from"]) == ("issue_created", 8, "ignored_sender")


async def test_a_failed_row_reprocessed_ends_with_an_earlier_committed_outcome(
    db: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    # The ingestor committed issue_created but its publish was lost, then `failed` came; on replay it
    # re-emits the stored outcome with its first processed_at, earlier than the failure's.
    row_id = await add_row(db, 5, RAW, Outcome.FAILED)
    assert (await client.post(f"/api/v1/email-log/{row_id}/reprocess")).status_code == 200
    committed = MessageProcessed(
        inbox_id=1,
        uidvalidity=9,
        uid=5,
        raw_sha256=await db.fetchval("SELECT raw_sha256 FROM config.email_log WHERE id = $1", row_id),
        outcome=Outcome.ISSUE_CREATED,
        reason="new issue #9",
        issue_number=9,
        attempts=1,
        processed_at=START,
    )
    await record_processed(db, committed)
    assert await db.fetchval("SELECT outcome FROM config.email_log WHERE id = $1", row_id) == "issue_created"


async def test_reprocess_that_cannot_be_published_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, db: asyncpg.Connection
) -> None:
    row_id = await add_row(db, 6, RAW, Outcome.FAILED)
    await app.state.runtime.broker.stop()  # RabbitMQ out of reach for this app
    response = await client.post(f"/api/v1/email-log/{row_id}/reprocess")
    assert response.status_code == 503
    assert "nothing changed" in response.json()["detail"]
    assert await db.fetchval("SELECT outcome FROM config.email_log WHERE id = $1", row_id) == "failed"
