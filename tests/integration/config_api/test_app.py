"""The app as a whole: probes, bearer-token protection of /api/v1, JSON errors for unknown paths."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from intake.config_api.app import _text_not_storable


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
    handled = await _text_not_storable(None, raised.value)  # type: ignore[arg-type]
    assert handled.status_code == 422
    assert b"text must not contain NUL characters" in handled.body


async def test_openapi_documents_the_common_errors(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/email-log/{entry_id}/reprocess"]["post"]
    assert {"401", "404", "409", "422", "503"} <= set(operation["responses"])
    assert "400" in document["paths"]["/api/v1/issue-types"]["post"]["responses"]
