"""The app as a whole: probes, bearer-token protection of /api/v1, JSON errors for unknown paths."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import asyncpg.exceptions._base as asyncpg_base
import httpx
import pytest
from fastapi import FastAPI, Request

from intake.config_api.app import _text_not_storable, _value_not_storable


async def test_healthz_needs_no_token(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_and_broker(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-enough-length"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "basic", "empty"],
)
@pytest.mark.parametrize("path", ["/api/v1/issue-types", "/api/v1/inboxes", "/api/v1/email-log", "/api/v1/issues"])
async def test_api_needs_the_admin_token(anonymous: httpx.AsyncClient, headers: dict[str, str], path: str) -> None:
    response = await anonymous.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "a valid bearer token is required"}


async def test_admin_token_is_accepted_with_any_scheme_case(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    response = await anonymous.get("/api/v1/issue-types", headers={"Authorization": f"bearer {admin_token}"})
    assert response.status_code == 200


async def test_unknown_inbox_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/inboxes/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "no inbox with id 999"}


async def test_openapi_document_lists_the_api(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    assert {"/api/v1/inboxes", "/api/v1/email-log", "/api/v1/issues/{number}", "/readyz"} <= set(document["paths"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_text_with_nul_is_a_client_error(client: httpx.AsyncClient, app: FastAPI) -> None:
    # PostgreSQL text cannot hold U+0000: a field rule may refuse it first, else the handler does; never a 500.
    response = await client.post("/api/v1/issue-types", json={"name": "Support\u0000"})
    assert response.status_code == 422
    async with app.state.runtime.pool.acquire() as conn:
        with pytest.raises(asyncpg.CharacterNotInRepertoireError) as raised:
            await conn.execute("SELECT $1::text", "a\u0000b")
    request = Request({"type": "http", "method": "POST", "path": "/api/v1/issue-types", "headers": []})
    handled = await _text_not_storable(request, raised.value)
    assert handled.status_code == 422
    assert b"text must not contain NUL characters" in handled.body


async def test_openapi_documents_the_common_errors(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/email-log/{entry_id}/reprocess"]["post"]
    assert {"401", "404", "409", "422", "503"} <= set(operation["responses"])
    assert "400" in document["paths"]["/api/v1/issue-types"]["post"]["responses"]


BEYOND_BIGINT = 2**63
# Cursors that decode, but whose id or time PostgreSQL cannot take: each must be an invalid cursor (422).
OUT_OF_RANGE_CURSORS = [
    base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
    for position in (["2025-01-01T00:00:00+00:00", BEYOND_BIGINT], ["0001-01-01T00:00:00+14:00", 1])
]


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


async def test_every_id_in_a_path_beyond_bigint_is_a_422(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, service_token: str
) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    calls = [
        (method, re.sub(r"\{[^}]+\}", str(BEYOND_BIGINT), path), {})
        for method, path, operation in _operations(document)
        if any(p["in"] == "path" and p["schema"].get("type") == "integer" for p in operation.get("parameters", []))
    ]
    assert {"/api/v1/inboxes/{inbox_id}/oauth2/authorize", "/api/v1/issues/{number}"} <= {
        path for _, path, operation in _operations(document) if operation.get("parameters")
    }
    internal = f"/internal/v1/inboxes/{BEYOND_BIGINT}/access-token"
    calls.append(("POST", internal, {"Authorization": f"Bearer {service_token}"}))
    assert len(calls) >= 15
    for method, path, headers in calls:
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 422, (method, path, response.status_code, response.text)
        assert any(error["loc"][0] == "path" for error in response.json()["detail"]), (method, path)


@pytest.mark.parametrize("cursor", OUT_OF_RANGE_CURSORS)
async def test_every_list_refuses_a_cursor_out_of_range(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, tracker: asyncpg.Connection, cursor: str
) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    lists = [
        path
        for method, path, operation in _operations(document)
        if method == "GET" and any(p["name"] == "cursor" for p in operation.get("parameters", []))
    ]
    assert {"/api/v1/inboxes", "/api/v1/email-log", "/api/v1/tokens", "/api/v1/issues", "/api/v1/users"} <= set(lists)
    for path in lists:
        response = await client.get(path, params={"cursor": cursor})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"] == [
            {"type": "value_error", "loc": ["query", "cursor"], "msg": "not a cursor returned by this API"}
        ], path


@pytest.mark.parametrize(
    "query",
    [
        ("SELECT $1::bigint", 2**63),  # refused by asyncpg before it is sent
        ("SELECT $1::timestamptz", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))),
        ("SELECT 1 / $1::int", 0),  # refused by PostgreSQL: division_by_zero, a data exception
    ],
)
async def test_a_value_the_database_cannot_take_is_a_422_never_a_500(
    captured_log: io.StringIO, app: FastAPI, query: tuple[str, Any]
) -> None:
    # The safety net behind the checks of each parameter: a real asyncpg/PostgreSQL error through the handler.
    async with app.state.runtime.pool.acquire() as conn:
        with pytest.raises((asyncpg.DataError, asyncpg_base.DataError)) as raised:
            await conn.fetchval(*query)
    request = Request({"type": "http", "method": "GET", "path": "/api/v1/example", "headers": [], "query_string": b""})
    handled = await _value_not_storable(request, raised.value)
    assert handled.status_code == 422
    assert json.loads(bytes(handled.body))["detail"][0]["type"] == "value_not_storable"
    logged = [json.loads(line) for line in captured_log.getvalue().splitlines()]
    (entry,) = [line for line in logged if line.get("message") == "request value not storable"]
    assert entry["path"] == "/api/v1/example"
    assert entry["sqlstate"].startswith("22")
    assert str(2**63) not in captured_log.getvalue()
