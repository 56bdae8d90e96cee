"""Issues, messages and attachments read through test-made tracker views; attachments from the blob store."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from intake.shared.blobs import put_blob
from intake.shared.migrations import migrate_blobs

T0 = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
# Bytes that would break on any text round trip: NUL, CR/LF, invalid UTF-8.
PDF = b"%PDF-1.7\x00\r\n\xff\xfe" + bytes(range(256)) * 4


async def add_issue(db: asyncpg.Connection, number: int, created_at: datetime) -> None:
    await db.execute(
        """INSERT INTO tracker.issues
           VALUES ($1, $2, 'open', 1, 'en', NULL, NULL, 'ann@example.com', 'Ann', 3, $3, $3)""",
        number,
        f"Issue {number}",
        created_at,
    )


@pytest.fixture
async def issue_with_messages(tracker: asyncpg.Connection) -> dict[str, Any]:
    await migrate_blobs(tracker)
    sha = await put_blob(tracker, PDF)
    await add_issue(tracker, 42, T0)
    # Inserted newest first, so "oldest first" in the response is the API's doing.
    await tracker.execute(
        """INSERT INTO tracker.messages VALUES
           (11, 42, '<b@x>', 'bo@example.com', NULL, '{ann@example.com}', '{}', 'Re: Printer [#42]', $2,
            'second', $2),
           (10, 42, '<a@x>', 'ann@example.com', 'Ann', '{help@example.com}', '{boss@example.com}', 'Printer', $1,
            'first', $1)""",
        T0,
        T0 + timedelta(hours=1),
    )
    await tracker.execute(
        """INSERT INTO tracker.attachments VALUES
           (100, 10, 'Résumé "final".pdf', 'application/pdf', $2, $1, false, NULL),
           (101, 10, 'logo.png', 'text/html', 4, $1, true, 'logo@x')""",
        sha,
        len(PDF),
    )
    return {"sha256": sha}


async def test_issue_with_messages_and_attachments(client: httpx.AsyncClient, issue_with_messages: Any) -> None:
    response = await client.get("/api/v1/issues/42")
    assert response.status_code == 200, response.text
    issue = response.json()
    messages = issue.pop("messages")
    assert issue == {
        "number": 42,
        "title": "Issue 42",
        "status": "open",
        "issue_type_id": 1,
        "language": "en",
        "assigned_user_id": None,
        "assigned_organisation_id": None,
        "requester": {"email": "ann@example.com", "name": "Ann"},
        "inbox_id": 3,
        "created_at": "2025-02-01T08:00:00Z",
        "updated_at": "2025-02-01T08:00:00Z",
    }
    assert [m["id"] for m in messages] == [10, 11]
    first = messages[0]
    assert first["from"] == {"email": "ann@example.com", "name": "Ann"}
    assert (first["to"], first["cc"], first["subject"], first["body_text"]) == (
        ["help@example.com"],
        ["boss@example.com"],
        "Printer",
        "first",
    )
    assert first["date"] == "2025-02-01T08:00:00Z"
    assert first["attachments"][0] == {
        "id": 100,
        "filename": 'Résumé "final".pdf',
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": issue_with_messages["sha256"],
        "inline": False,
        "content_id": None,
    }
    assert messages[1]["attachments"] == []


async def test_attachment_is_served_byte_identical(client: httpx.AsyncClient, issue_with_messages: Any) -> None:
    response = await client.get("/api/v1/attachments/100")
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Resume _final_.pdf"; ')
    extended = disposition.split("filename*=", 1)[1]
    assert extended.startswith("UTF-8''")
    assert urllib.parse.unquote(extended.removeprefix("UTF-8''")) == 'Résumé "final".pdf'


async def test_attachment_content_type_is_served_as_stored_but_never_rendered(
    client: httpx.AsyncClient, issue_with_messages: Any
) -> None:
    response = await client.get("/api/v1/attachments/101")
    assert response.headers["content-type"] == "text/html"
    assert response.headers["content-disposition"] == 'attachment; filename="logo.png"'
    assert "sandbox" in response.headers["content-security-policy"]


async def test_unknown_issue_and_attachment_are_404(client: httpx.AsyncClient, tracker: asyncpg.Connection) -> None:
    await migrate_blobs(tracker)
    for path in ("/api/v1/issues/7", "/api/v1/attachments/7"):
        response = await client.get(path)
        assert response.status_code == 404
        assert "detail" in response.json()


async def test_issue_list_is_paginated_newest_first(client: httpx.AsyncClient, tracker: asyncpg.Connection) -> None:
    for number in range(1, 6):
        await add_issue(tracker, number, T0 + timedelta(minutes=number))
    first = (await client.get("/api/v1/issues", params={"limit": 3})).json()
    assert [i["number"] for i in first["items"]] == [5, 4, 3]
    assert "messages" not in first["items"][0]
    second = (await client.get("/api/v1/issues", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [i["number"] for i in second["items"]] == [2, 1]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("path", ["/api/v1/issues", "/api/v1/issues/1", "/api/v1/attachments/1"])
async def test_missing_tracker_views_are_503(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 503
    assert "not available yet" in response.json()["detail"]
