"""POST/GET /api/v1/inboxes on a real database: presets, write-only encrypted secrets, field errors."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx

from intake.shared.secrets import SecretBox

PASSWORD = "correct horse battery staple 7f3a"
CLIENT_SECRET = "client-secret-9b1e0c"


def yahoo(**changes: Any) -> dict[str, Any]:
    return {"provider": "yahoo", "email": "support@example.com", "password": PASSWORD} | changes


async def test_created_inbox_never_shows_its_password(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/inboxes", json=yahoo(oauth2={"client_secret": CLIENT_SECRET}))
    assert created.status_code == 201, created.text
    fetched = await client.get(f"/api/v1/inboxes/{created.json()['id']}")
    listed = await client.get("/api/v1/inboxes")

    for text in (created.text, fetched.text, listed.text):
        assert PASSWORD not in text
        assert CLIENT_SECRET not in text
    inbox = fetched.json()
    assert inbox == created.json()
    assert listed.json() == [inbox]
    assert inbox["password_set"] is True
    assert inbox["client_secret_set"] is True
    assert "password" not in inbox
    assert "client_secret" not in inbox["oauth2"]


async def test_preset_and_defaults_are_filled_in(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/inboxes", json=yahoo())
    inbox = response.json()
    assert {k: inbox[k] for k in ("hostname", "port", "encryption", "username", "directory", "auth")} == {
        "hostname": "imap.mail.yahoo.com",
        "port": 993,
        "encryption": "ssl",
        "username": "support@example.com",
        "directory": "INBOX",
        "auth": "password",
    }
    assert {k: inbox[k] for k in ("processed_action", "unmatched_action", "active", "poll_interval_seconds")} == {
        "processed_action": "mark_read",
        "unmatched_action": "create_issue",
        "active": True,
        "poll_interval_seconds": 60,
    }
    assert inbox["status"] == {"state": "unknown"}
    assert inbox["client_secret_set"] is False
    assert inbox["oauth2"] == {"client_id": None, "tenant_id": None}


async def test_every_field_is_stored(client: httpx.AsyncClient) -> None:
    body = {
        "provider": "custom",
        "email": "help@example.org",
        "username": "help",
        "password": PASSWORD,
        "hostname": "imap.example.org",
        "port": 143,
        "directory": "Support/Eingang ü",
        "encryption": "none",
        "ca_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "oauth2": {"client_id": "app", "tenant_id": "tenant"},
        "processed_action": "delete",
        "unmatched_action": "ignore",
        "ignored_senders": ["@spam.example", "noreply@example.org"],
        "default_language": "de-CH",
        "issue_type_id": 1,
        "active": False,
        "poll_interval_seconds": 300,
        "first_fetch": "all",
    }
    response = await client.post("/api/v1/inboxes", json=body)
    assert response.status_code == 201, response.text
    inbox = (await client.get(f"/api/v1/inboxes/{response.json()['id']}")).json()
    expected = {k: v for k, v in body.items() if k not in ("password", "oauth2")}
    assert {k: inbox[k] for k in expected} == expected
    assert inbox["oauth2"] == {"client_id": "app", "tenant_id": "tenant"}
    assert inbox["status"] == {"state": "disabled"}
    assert inbox["assigned_user_id"] is None


async def test_password_is_encrypted_at_rest(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str
) -> None:
    inbox_id = (await client.post("/api/v1/inboxes", json=yahoo())).json()["id"]
    stored = await db.fetchval("SELECT password_encrypted FROM config.inboxes WHERE id = $1", inbox_id)
    assert PASSWORD.encode() not in stored
    assert SecretBox(secret_key).decrypt(stored) == PASSWORD
    readable = await db.fetchval("SELECT password_encrypted FROM config.inbox_settings WHERE id = $1", inbox_id)
    assert readable == stored


async def test_validation_errors_do_not_echo_the_password(client: httpx.AsyncClient) -> None:
    for body in (
        yahoo(port=0),
        yahoo(email="not-an-address"),
        yahoo(unexpected=PASSWORD),
        {"password": PASSWORD},
        yahoo(password=PASSWORD * 200),
    ):
        response = await client.post("/api/v1/inboxes", json=body)
        assert response.status_code == 422, body.keys()
        assert PASSWORD not in response.text
        assert all(set(error) == {"type", "loc", "msg"} for error in response.json()["detail"])


async def test_malformed_json_does_not_echo_the_body(client: httpx.AsyncClient) -> None:
    content = json.dumps(yahoo())[:-1]
    response = await client.post("/api/v1/inboxes", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert PASSWORD not in response.text


def fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["loc"][-1]: error["msg"] for error in response.json()["detail"]}


async def test_unknown_references_name_the_field(client: httpx.AsyncClient) -> None:
    assert fields(await client.post("/api/v1/inboxes", json=yahoo(issue_type_id=999))) == {
        "issue_type_id": "no such id"
    }
    assert fields(await client.post("/api/v1/inboxes", json=yahoo(assigned_user_id=5))) == {
        "assigned_user_id": "no such id"
    }
    assert fields(await client.post("/api/v1/inboxes", json=yahoo(assigned_organisation_id=5))) == {
        "assigned_organisation_id": "no such id"
    }


async def test_unsupported_and_missing_settings_are_field_errors(client: httpx.AsyncClient) -> None:
    errors = fields(await client.post("/api/v1/inboxes", json={"provider": "custom", "email": "a@b.example"}))
    assert set(errors) == {"hostname", "port", "password"}
    starttls = fields(await client.post("/api/v1/inboxes", json=yahoo(encryption="tls")))
    assert "not supported yet" in starttls["encryption"]
    oauth2 = fields(await client.post("/api/v1/inboxes", json=yahoo(auth="oauth2")))
    assert "not supported yet" in oauth2["auth"]
    gmail = fields(await client.post("/api/v1/inboxes", json=yahoo(provider="gmail")))
    assert "OAuth2" in gmail["auth"]
    assert (await client.get("/api/v1/inboxes")).json() == []
