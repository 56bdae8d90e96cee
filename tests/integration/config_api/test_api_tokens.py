"""/api/v1/tokens: issued tokens work like the admin token, are shown once, stored hashed, and revocable;
every endpoint but the probes needs a token."""

from __future__ import annotations

import re

import asyncpg
import httpx
import pytest


async def issue(client: httpx.AsyncClient, name: str = "billing sync") -> dict[str, str | int]:
    response = await client.post("/api/v1/tokens", json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, str | int] = response.json()
    return created


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_issued_token_is_shown_once_and_works(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    created = await issue(client)
    token = str(created["token"])
    assert token.startswith("intake_")
    assert token.startswith(str(created["prefix"]))
    assert created["last_used_at"] is None

    listed = await client.get("/api/v1/tokens")
    assert token not in listed.text
    assert listed.json() == {
        "items": [{k: v for k, v in created.items() if k != "token"}],
        "next_cursor": None,
    }
    response = await anonymous.get("/api/v1/inboxes", headers=bearer(token))
    assert response.status_code == 200
    # An issued token may do what the admin token does, also issue and revoke tokens.
    assert (await anonymous.post("/api/v1/tokens", json={"name": "other"}, headers=bearer(token))).status_code == 201
    used = (await client.get("/api/v1/tokens")).json()["items"][0]
    assert used["last_used_at"] is not None


async def test_only_the_digest_is_stored(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    token = str((await issue(client))["token"])
    row = await db.fetchrow("SELECT * FROM config.api_tokens")
    assert row is not None
    assert all(token not in str(value) and token.encode() not in repr(value).encode() for value in row.values())
    assert len(row["token_sha256"]) == 32


async def test_a_revoked_token_is_refused(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    created = await issue(client)
    kept = await issue(client, "kept")
    revoked = await client.delete(f"/api/v1/tokens/{created['id']}")
    assert (revoked.status_code, revoked.content) == (204, b"")
    refused = await anonymous.get("/api/v1/inboxes", headers=bearer(created["token"]))
    assert (refused.status_code, refused.json()) == (401, {"detail": "a valid bearer token is required"})
    assert (await anonymous.get("/api/v1/inboxes", headers=bearer(kept["token"]))).status_code == 200
    again = await client.delete(f"/api/v1/tokens/{created['id']}")
    assert (again.status_code, again.json()) == (404, {"detail": f"no API token with id {created['id']}"})
    assert [t["name"] for t in (await client.get("/api/v1/tokens")).json()["items"]] == ["kept"]


@pytest.mark.parametrize("token", ["intake_" + "A" * 43, "intake_short", "x" * 64])
async def test_unknown_tokens_are_refused(anonymous: httpx.AsyncClient, token: str) -> None:
    assert (await anonymous.get("/api/v1/inboxes", headers=bearer(token))).status_code == 401


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": " "}, {"name": "x" * 201}, {"name": "a", "scope": "all"}])
async def test_a_token_needs_a_name(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post("/api/v1/tokens", json=body)
    assert response.status_code == 422


# Reached by a browser sent back from the identity provider, which carries no bearer token.
PUBLIC_API_PATHS = {"/api/v1/oauth2/callback"}


async def test_every_api_endpoint_needs_a_token(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    checked = 0
    for route, methods in document["paths"].items():
        if not route.startswith("/api/") or route in PUBLIC_API_PATHS:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route)
        for method in methods:
            response = await anonymous.request(method.upper(), path)
            assert response.status_code == 401, (method, route)
            checked += 1
    assert checked >= 20
    for probe in ("/healthz", "/readyz"):
        assert (await anonymous.get(probe)).status_code == 200
