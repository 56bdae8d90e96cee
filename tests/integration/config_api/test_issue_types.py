"""GET/POST /api/v1/issue-types on a freshly migrated database."""

from __future__ import annotations

import httpx


async def test_fresh_install_has_support(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/issue-types")
    assert response.status_code == 200
    assert [t["name"] for t in response.json()] == ["Support"]


async def test_create_and_list(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/issue-types", json={"name": "  Billing "})
    assert created.status_code == 201
    assert created.json()["name"] == "Billing"
    listed = (await client.get("/api/v1/issue-types")).json()
    assert [t["name"] for t in listed] == ["Support", "Billing"]
    assert listed[1] == created.json()


async def test_duplicate_name_is_a_conflict(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/issue-types", json={"name": "Support"})
    assert response.status_code == 409
    assert response.json() == {"detail": "an issue type named 'Support' already exists"}


async def test_empty_name_is_a_field_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/issue-types", json={"name": "   "})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
