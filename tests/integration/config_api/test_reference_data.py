"""Issue types, users and organisations: create, list (paginated), get, update, delete; in-use deletes refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

KINDS = [
    ("/api/v1/issue-types", {"name": "Billing"}, "issue type"),
    ("/api/v1/users", {"name": "Ada Lovelace", "email": "ada@example.org"}, "user"),
    ("/api/v1/organisations", {"name": "ACME"}, "organisation"),
]
INBOX_FIELD = {"issue type": "issue_type_id", "user": "assigned_user_id", "organisation": "assigned_organisation_id"}


async def test_fresh_install_has_support_and_nothing_else(client: httpx.AsyncClient) -> None:
    assert [t["name"] for t in (await client.get("/api/v1/issue-types")).json()["items"]] == ["Support"]
    assert (await client.get("/api/v1/users")).json() == {"items": [], "next_cursor": None}
    assert (await client.get("/api/v1/organisations")).json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(("path", "body", "label"), KINDS)
async def test_create_get_update_delete(client: httpx.AsyncClient, path: str, body: dict[str, Any], label: str) -> None:
    created = await client.post(path, json={k: f"  {v} " for k, v in body.items()})
    assert created.status_code == 201, created.text
    row = created.json()
    assert {k: row[k] for k in body} == body
    assert (await client.get(f"{path}/{row['id']}")).json() == row
    assert row in (await client.get(path)).json()["items"]

    updated = await client.patch(f"{path}/{row['id']}", json={"name": "Renamed"})
    assert updated.status_code == 200, updated.text
    assert updated.json() == row | {"name": "Renamed"}
    assert (await client.patch(f"{path}/{row['id']}", json={})).json() == updated.json()

    deleted = await client.delete(f"{path}/{row['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    for response in (
        await client.get(f"{path}/{row['id']}"),
        await client.patch(f"{path}/{row['id']}", json={"name": "x"}),
        await client.delete(f"{path}/{row['id']}"),
    ):
        assert (response.status_code, response.json()) == (404, {"detail": f"no {label} with id {row['id']}"})


@pytest.mark.parametrize(("path", "body", "label"), KINDS)
async def test_field_errors(client: httpx.AsyncClient, path: str, body: dict[str, Any], label: str) -> None:
    for bad in ({"name": "   "}, {"name": "x" * 201}, {"name": "nul\x00"}, {}, body | {"colour": "red"}):
        response = await client.post(path, json=bad)
        assert response.status_code == 422, bad
    row = (await client.post(path, json=body)).json()
    response = await client.patch(f"{path}/{row['id']}", json={"name": None})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"type": "null", "loc": ["body", "name"], "msg": "must not be null"}]
    assert (await client.get(f"{path}/0")).status_code == 422


async def test_user_email_is_checked_and_can_be_cleared(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/users", json={"name": "Bob", "email": "not an address"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]
    user = (await client.post("/api/v1/users", json={"name": "Bob", "email": "bob@example.org"})).json()
    cleared = (await client.patch(f"/api/v1/users/{user['id']}", json={"email": None})).json()
    assert cleared == user | {"email": None}
    same_name = await client.post("/api/v1/users", json={"name": "Bob"})
    assert same_name.status_code == 201  # two people may share a name


@pytest.mark.parametrize(
    ("path", "label"), [("/api/v1/issue-types", "an issue type"), ("/api/v1/organisations", "an organisation")]
)
async def test_duplicate_names_are_conflicts(client: httpx.AsyncClient, path: str, label: str) -> None:
    first = (await client.post(path, json={"name": "Ops"})).json()
    duplicate = await client.post(path, json={"name": "Ops"})
    assert (duplicate.status_code, duplicate.json()) == (409, {"detail": f"{label} named 'Ops' already exists"})
    other = (await client.post(path, json={"name": "Dev"})).json()
    renamed = await client.patch(f"{path}/{other['id']}", json={"name": "Ops"})
    assert renamed.status_code == 409
    assert (await client.get(f"{path}/{first['id']}")).json() == first


@pytest.mark.parametrize(("path", "body", "label"), KINDS)
async def test_deleting_what_an_inbox_uses_is_refused(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], label: str
) -> None:
    row = (await client.post(path, json=body)).json()
    inbox_ids = []
    for email in ("one@example.com", "two@example.com"):
        inbox = {"provider": "zoho", "email": email, "password": "pw", INBOX_FIELD[label]: row["id"]}
        inbox_ids.append((await client.post("/api/v1/inboxes", json=inbox)).json()["id"])
    response = await client.delete(f"{path}/{row['id']}")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"{label} {row['id']} is used by inboxes {inbox_ids[0]} (one@example.com), "
        f"{inbox_ids[1]} (two@example.com): change their {INBOX_FIELD[label]} first",
        "inbox_ids": inbox_ids,
    }
    for inbox_id in inbox_ids:
        await client.patch(f"/api/v1/inboxes/{inbox_id}", json={INBOX_FIELD[label]: None})
    assert (await client.delete(f"{path}/{row['id']}")).status_code == 204


async def test_lists_are_paginated(client: httpx.AsyncClient) -> None:
    for n in range(4):
        await client.post("/api/v1/organisations", json={"name": f"Org {n}"})
    first = (await client.get("/api/v1/organisations", params={"limit": 3})).json()
    second = (await client.get("/api/v1/organisations", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [o["name"] for o in first["items"] + second["items"]] == [f"Org {n}" for n in range(4)]
    assert second["next_cursor"] is None


async def test_providers(client: httpx.AsyncClient) -> None:
    providers = (await client.get("/api/v1/providers")).json()
    assert [p["provider"] for p in providers] == ["gmail", "outlook", "yahoo", "zoho", "custom"]
    assert providers[1] == {
        "provider": "outlook",
        "name": "Microsoft 365 / Outlook",
        "hostname": "outlook.office365.com",
        "port": 993,
        "encryption": "ssl",
        "editable": False,
        "requires_oauth2": True,
        "requires_tenant": True,
    }
    assert providers[4] | {"name": ""} == {
        "provider": "custom",
        "name": "",
        "hostname": None,
        "port": None,
        "encryption": "ssl",
        "editable": True,
        "requires_oauth2": False,
        "requires_tenant": False,
    }


async def test_languages(client: httpx.AsyncClient) -> None:
    languages = (await client.get("/api/v1/languages")).json()
    assert len(languages) == 183
    assert {"code": "de", "name": "German"} in languages
