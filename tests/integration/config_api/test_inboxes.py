"""/api/v1/inboxes on a real database and broker: presets, write-only encrypted secrets, field errors,
PATCH and DELETE, `inbox.changed` after every change, and the health shown on each inbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from intake.shared import topology
from intake.shared.contracts import InboxChanged
from intake.shared.secrets import SecretBox
from tests.integration.config_api.conftest import eventually

PASSWORD = "correct horse battery staple 7f3a"
CLIENT_SECRET = "client-secret-9b1e0c"
CA_PEM = (Path(__file__).parents[2] / "unit" / "config_api" / "ca.pem").read_text()


def yahoo(**changes: Any) -> dict[str, Any]:
    return {"provider": "yahoo", "email": "support@example.com", "password": PASSWORD} | changes


async def create(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/inboxes", json=yahoo(**changes))
    assert response.status_code == 201, response.text
    inbox: dict[str, Any] = response.json()
    return inbox


def fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {".".join(map(str, error["loc"][1:])): error["msg"] for error in response.json()["detail"]}


class Changes:
    """`inbox.changed` events seen on a queue of the test's own, bound like a fetcher's."""

    def __init__(self) -> None:
        self.events: list[InboxChanged] = []

    async def ids(self) -> list[int]:
        return [event.inbox_id for event in self.events]


@pytest.fixture
async def changes(app: FastAPI, amqp_url: str) -> AsyncIterator[Changes]:
    seen = Changes()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(topology.EXCHANGE_NAME, routing_key=topology.INBOX_CHANGED)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                seen.events.append(InboxChanged.model_validate_json(message.body))

        await queue.consume(on_message)
        yield seen
    finally:
        await connection.close()


async def test_created_inbox_never_shows_its_secrets(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/inboxes", json=yahoo(oauth2={"client_secret": CLIENT_SECRET}))
    assert created.status_code == 201, created.text
    fetched = await client.get(f"/api/v1/inboxes/{created.json()['id']}")
    listed = await client.get("/api/v1/inboxes")

    for text in (created.text, fetched.text, listed.text):
        assert PASSWORD not in text
        assert CLIENT_SECRET not in text
    inbox = fetched.json()
    assert inbox == created.json()
    assert listed.json() == {"items": [inbox], "next_cursor": None}
    assert inbox["password_set"] is True
    assert inbox["client_secret_set"] is True
    assert "password" not in inbox
    assert "client_secret" not in inbox["oauth2"]


async def test_preset_and_defaults_are_filled_in(client: httpx.AsyncClient) -> None:
    inbox = await create(client)
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
    assert {k: inbox[k] for k in ("ignored_senders", "default_language", "ca_certificate", "first_fetch")} == {
        "ignored_senders": [],
        "default_language": None,
        "ca_certificate": None,
        "first_fetch": "unread",
    }
    assert inbox["status"] == {
        "state": "unknown",
        "last_success_at": None,
        "last_error": None,
        "consecutive_failures": 0,
        "push": None,
        "reported_at": None,
    }
    assert inbox["client_secret_set"] is False
    assert inbox["oauth2"] == {"client_id": None, "tenant_id": None}


async def reference_ids(client: httpx.AsyncClient) -> dict[str, int]:
    user = await client.post("/api/v1/users", json={"name": "Ada", "email": "ada@example.org"})
    organisation = await client.post("/api/v1/organisations", json={"name": "ACME"})
    issue_type = await client.post("/api/v1/issue-types", json={"name": "Billing"})
    return {
        "issue_type_id": issue_type.json()["id"],
        "assigned_user_id": user.json()["id"],
        "assigned_organisation_id": organisation.json()["id"],
    }


async def test_every_field_is_stored(client: httpx.AsyncClient) -> None:
    body = {
        "provider": "custom",
        "email": "help@example.org",
        "username": "help",
        "password": PASSWORD,
        "hostname": "imap.example.org",
        "port": 143,
        "directory": "Support/Eingang ü",
        "encryption": "tls",
        "ca_certificate": CA_PEM,
        "auth": "oauth2",
        "oauth2": {"client_id": "app", "tenant_id": "tenant", "client_secret": CLIENT_SECRET},
        "processed_action": "delete",
        "unmatched_action": "ignore",
        "ignored_senders": ["@spam.example", "noreply@example.org"],
        "default_language": "de",
        "active": False,
        "poll_interval_seconds": 300,
        "first_fetch": "all",
    } | await reference_ids(client)
    response = await client.post("/api/v1/inboxes", json=body)
    assert response.status_code == 201, response.text
    inbox = (await client.get(f"/api/v1/inboxes/{response.json()['id']}")).json()
    expected = {k: v for k, v in body.items() if k not in ("password", "oauth2")}
    assert {k: inbox[k] for k in expected} == expected
    assert inbox["oauth2"] == {"client_id": "app", "tenant_id": "tenant"}
    assert (inbox["password_set"], inbox["client_secret_set"]) == (True, True)
    assert inbox["status"]["state"] == "disabled"


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
async def test_oauth2_providers(client: httpx.AsyncClient, provider: str) -> None:
    body = {"provider": provider, "email": "desk@example.com", "auth": "oauth2"}
    assert fields(await client.post("/api/v1/inboxes", json=body))["oauth2.client_id"] == (
        "required when auth is 'oauth2'"
    )
    body["oauth2"] = {"client_id": "app", "tenant_id": "contoso"}
    response = await client.post("/api/v1/inboxes", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["password_set"] is False


async def test_outlook_needs_a_tenant(client: httpx.AsyncClient) -> None:
    body = {"provider": "outlook", "email": "desk@example.com", "auth": "oauth2", "oauth2": {"client_id": "app"}}
    assert fields(await client.post("/api/v1/inboxes", json=body)) == {
        "oauth2.tenant_id": "required for provider 'outlook' with auth 'oauth2' (the Microsoft tenant)"
    }


async def test_secrets_are_encrypted_at_rest(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str
) -> None:
    inbox_id = (await create(client, oauth2={"client_secret": CLIENT_SECRET}))["id"]
    row = await db.fetchrow(
        "SELECT password_encrypted, oauth2_client_secret_encrypted FROM config.inboxes WHERE id = $1", inbox_id
    )
    assert row is not None
    box = SecretBox(secret_key)
    assert PASSWORD.encode() not in row["password_encrypted"]
    assert box.decrypt(row["password_encrypted"]) == PASSWORD
    assert box.decrypt(row["oauth2_client_secret_encrypted"]) == CLIENT_SECRET
    readable = await db.fetchval("SELECT password_encrypted FROM config.inbox_settings WHERE id = $1", inbox_id)
    assert readable == row["password_encrypted"]


async def test_validation_errors_do_not_echo_the_password(client: httpx.AsyncClient) -> None:
    for body in (
        yahoo(port=0),
        yahoo(email="not-an-address"),
        yahoo(unexpected=PASSWORD),
        {"password": PASSWORD},
        yahoo(password=PASSWORD * 200),
        yahoo(ignored_senders=[PASSWORD + "@a@b"]),
        yahoo(default_language=PASSWORD),
        yahoo(ca_certificate=PASSWORD),
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


async def test_one_message_per_field(client: httpx.AsyncClient) -> None:
    body = {
        "provider": "custom",
        "email": "a@b.example",
        "port": 70000,
        "ignored_senders": ["ok@example.com", "a b"],
        "default_language": "english",
        "ca_certificate": "nope",
        "issue_type_id": 0,
    }
    errors = fields(await client.post("/api/v1/inboxes", json=body))
    # The cross-field rules are checked on the fields that parsed: the missing hostname and password too.
    assert set(errors) == {
        "port",
        "ignored_senders.1",
        "default_language",
        "ca_certificate",
        "issue_type_id",
        "hostname",
        "password",
    }
    assert "ISO 639-1" in errors["default_language"]
    assert "PEM" in errors["ca_certificate"]
    unknown = fields(await client.post("/api/v1/inboxes", json=yahoo(provider="aol")))
    assert "gmail" in unknown["provider"]


async def test_unknown_references_are_all_named(client: httpx.AsyncClient) -> None:
    body = yahoo(issue_type_id=999, assigned_user_id=5, assigned_organisation_id=6)
    assert fields(await client.post("/api/v1/inboxes", json=body)) == {
        "issue_type_id": "no such id: 999",
        "assigned_user_id": "no such id: 5",
        "assigned_organisation_id": "no such id: 6",
    }


async def test_missing_and_fixed_settings_are_field_errors(client: httpx.AsyncClient) -> None:
    errors = fields(await client.post("/api/v1/inboxes", json={"provider": "custom", "email": "a@b.example"}))
    assert set(errors) == {"hostname", "port", "password"}
    # A bad address does not hide the rules: every wrong field is named at once.
    both = fields(await client.post("/api/v1/inboxes", json={"provider": "custom", "email": ""}))
    assert set(both) == {"email", "hostname", "port", "password"}
    fixed = fields(await client.post("/api/v1/inboxes", json=yahoo(encryption="tls", port=143)))
    assert set(fixed) == {"encryption", "port"}
    assert "fixed to ssl for provider 'yahoo'" in fixed["encryption"]
    gmail = fields(await client.post("/api/v1/inboxes", json=yahoo(provider="gmail")))
    assert "OAuth2" in gmail["auth"]
    assert (await client.get("/api/v1/inboxes")).json()["items"] == []


async def test_list_is_paginated(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, email=f"desk{n}@example.com"))["id"] for n in range(5)]
    first = (await client.get("/api/v1/inboxes", params={"limit": 2})).json()
    assert [inbox["id"] for inbox in first["items"]] == ids[:2]
    second = (await client.get("/api/v1/inboxes", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    third = (await client.get("/api/v1/inboxes", params={"limit": 2, "cursor": second["next_cursor"]})).json()
    assert [inbox["id"] for inbox in second["items"] + third["items"]] == ids[2:]
    assert third["next_cursor"] is None
    assert fields(await client.get("/api/v1/inboxes", params={"cursor": "garbage!"})) == {
        "cursor": "not a cursor returned by this API"
    }


# PATCH


async def test_patch_changes_what_is_sent_and_keeps_the_password(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str
) -> None:
    inbox = await create(client, ignored_senders=["@spam.example"])
    response = await client.patch(
        f"/api/v1/inboxes/{inbox['id']}", json={"poll_interval_seconds": 30, "ignored_senders": ["Bot@x.example"]}
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["poll_interval_seconds"] == 30
    assert changed["ignored_senders"] == ["bot@x.example"]
    assert changed["password_set"] is True
    assert changed["updated_at"] > inbox["updated_at"]
    unchanged = {k: v for k, v in inbox.items() if k not in ("poll_interval_seconds", "ignored_senders", "updated_at")}
    assert {k: changed[k] for k in unchanged} == unchanged
    stored = await db.fetchval("SELECT password_encrypted FROM config.inboxes WHERE id = $1", inbox["id"])
    assert SecretBox(secret_key).decrypt(stored) == PASSWORD


async def test_patch_replaces_and_clears_secrets(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str
) -> None:
    inbox = await create(client, oauth2={"client_secret": CLIENT_SECRET})
    url = f"/api/v1/inboxes/{inbox['id']}"
    replaced = await client.patch(url, json={"password": "another password"})
    assert replaced.status_code == 200
    assert "another password" not in replaced.text
    stored = await db.fetchval("SELECT password_encrypted FROM config.inboxes WHERE id = $1", inbox["id"])
    assert SecretBox(secret_key).decrypt(stored) == "another password"

    cleared = (await client.patch(url, json={"oauth2": {"client_secret": None}})).json()
    assert (cleared["password_set"], cleared["client_secret_set"]) == (True, False)
    assert fields(await client.patch(url, json={"password": None})) == {"password": "required when auth is 'password'"}


async def test_patch_errors(client: httpx.AsyncClient) -> None:
    inbox = await create(client)
    url = f"/api/v1/inboxes/{inbox['id']}"
    assert fields(await client.patch(url, json={"port": 143, "email": None, "issue_type_id": 99})) == {
        "email": "must not be null",
        "port": "is fixed to 993 for provider 'yahoo'; use provider 'custom' to choose another",
    }
    assert fields(await client.patch(url, json={"issue_type_id": 99})) == {"issue_type_id": "no such id: 99"}
    assert fields(await client.patch(url, json={"default_language": "xx"}))["default_language"].startswith(
        "Value error, must be an ISO 639-1"
    )
    # A format error does not hide a rule's: both are named at once.
    both = fields(await client.patch(url, json={"default_language": "xx", "port": 143}))
    assert set(both) == {"default_language", "port"}
    assert "fixed to 993" in both["port"]
    assert (await client.get(url)).json() == inbox
    missing = await client.patch("/api/v1/inboxes/999", json={"active": False})
    assert (missing.status_code, missing.json()) == (404, {"detail": "no inbox with id 999"})


async def test_patch_to_custom_and_starttls(client: httpx.AsyncClient) -> None:
    inbox = await create(client)
    response = await client.patch(
        f"/api/v1/inboxes/{inbox['id']}",
        json={
            "provider": "custom",
            "hostname": "mail.example.org",
            "port": 143,
            "encryption": "tls",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in ("provider", "hostname", "port", "encryption")} == {
        "provider": "custom",
        "hostname": "mail.example.org",
        "port": 143,
        "encryption": "tls",
    }


async def test_patch_cannot_send_the_stored_password_to_another_server(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str, changes: Changes
) -> None:
    inbox = await create(client)
    url = f"/api/v1/inboxes/{inbox['id']}"
    moved = {"provider": "custom", "hostname": "attacker.example", "port": 143, "encryption": "none"}
    assert fields(await client.patch(url, json=moved)) == {
        "password": "re-enter the password when changing the server (provider, hostname, port, encryption), "
        "or send null to clear it"
    }
    assert fields(await client.patch(url, json={"ca_certificate": CA_PEM})) == {
        "password": "re-enter the password when changing the server (ca_certificate), or send null to clear it"
    }
    assert (await client.get(url)).json() == inbox
    marker = await create(client, email="marker@example.com")
    assert await eventually(lambda: _at_least(changes, 2)) == [inbox["id"], marker["id"]]

    typed = await client.patch(url, json=moved | {"password": "the new server's password"})
    assert typed.status_code == 200, typed.text
    stored = await db.fetchval("SELECT password_encrypted FROM config.inboxes WHERE id = $1", inbox["id"])
    assert SecretBox(secret_key).decrypt(stored) == "the new server's password"


async def test_patch_of_the_oauth2_client_needs_its_secret_and_drops_the_grant(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str
) -> None:
    inbox = await create(
        client,
        provider="outlook",
        auth="oauth2",
        password=None,
        oauth2={"client_id": "app", "tenant_id": "contoso", "client_secret": CLIENT_SECRET},
    )
    url = f"/api/v1/inboxes/{inbox['id']}"
    grant = SecretBox(secret_key).encrypt("refresh-token-of-contoso")
    await db.execute("UPDATE config.inboxes SET oauth2_refresh_token_encrypted = $2 WHERE id = $1", inbox["id"], grant)

    assert fields(await client.patch(url, json={"oauth2": {"tenant_id": "attacker"}})) == {
        "oauth2.client_secret": "re-enter the client secret when changing the OAuth2 client (oauth2.tenant_id), "
        "or send null to clear it"
    }
    assert (await client.patch(url, json={"poll_interval_seconds": 30})).status_code == 200
    assert (
        await db.fetchval("SELECT oauth2_refresh_token_encrypted FROM config.inboxes WHERE id = $1", inbox["id"])
        == grant
    )

    moved = await client.patch(url, json={"oauth2": {"tenant_id": "fabrikam", "client_secret": "fabrikam-secret"}})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["oauth2"], moved.json()["client_secret_set"]) == (
        {"client_id": "app", "tenant_id": "fabrikam"},
        True,
    )
    assert (
        await db.fetchval("SELECT oauth2_refresh_token_encrypted FROM config.inboxes WHERE id = $1", inbox["id"])
        is None
    )


# DELETE


async def test_delete_removes_the_inbox_and_keeps_its_email_log(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    inbox = await create(client)
    await db.execute(
        """INSERT INTO config.email_log (inbox_id, uidvalidity, uid, raw_sha256, logged_at)
           VALUES ($1, 1, 1, $2, now())""",
        inbox["id"],
        "ab" * 32,
    )
    await db.execute(
        """INSERT INTO config.inbox_status (inbox_id, state, consecutive_failures, reported_at)
           VALUES ($1, 'ok', 0, now())""",
        inbox["id"],
    )
    response = await client.delete(f"/api/v1/inboxes/{inbox['id']}")
    assert (response.status_code, response.content) == (204, b"")
    assert (await client.get(f"/api/v1/inboxes/{inbox['id']}")).status_code == 404
    assert (await client.delete(f"/api/v1/inboxes/{inbox['id']}")).status_code == 404
    log = (await client.get("/api/v1/email-log", params={"inbox_id": inbox["id"]})).json()["items"]
    assert [row["inbox_id"] for row in log] == [inbox["id"]]
    assert await db.fetchval("SELECT count(*) FROM config.inbox_status") == 0


# inbox.changed


async def test_every_change_is_announced(client: httpx.AsyncClient, changes: Changes) -> None:
    first = await create(client)
    second = await create(client, email="other@example.com")
    await client.patch(f"/api/v1/inboxes/{first['id']}", json={"active": False})
    await client.delete(f"/api/v1/inboxes/{second['id']}")
    ids = await eventually(lambda: _at_least(changes, 4))
    assert ids == [first["id"], second["id"], first["id"], second["id"]]
    assert all(event.changed_at.tzinfo is not None for event in changes.events)


async def test_rejected_changes_are_not_announced(client: httpx.AsyncClient, changes: Changes) -> None:
    inbox = await create(client)
    await client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"port": 1})
    await client.post("/api/v1/inboxes", json=yahoo(port=1))
    await client.delete("/api/v1/inboxes/999")
    marker = await create(client, email="marker@example.com")
    ids = await eventually(lambda: _at_least(changes, 2))
    assert ids == [inbox["id"], marker["id"]]


async def _at_least(changes: Changes, count: int) -> list[int] | None:
    ids = await changes.ids()
    return ids if len(ids) >= count else None


# status


async def test_status_shows_the_stored_report(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    inbox = await create(client)
    success = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    await db.execute(
        """INSERT INTO config.inbox_status
               (inbox_id, state, last_success_at, last_error, consecutive_failures, push, reported_at)
           VALUES ($1, 'error', $2, 'login refused: AUTHENTICATIONFAILED', 3, true, $3)""",
        inbox["id"],
        success,
        success.replace(hour=13),
    )
    url = f"/api/v1/inboxes/{inbox['id']}"
    assert (await client.get(url)).json()["status"] == {
        "state": "error",
        "last_success_at": "2025-05-01T12:00:00Z",
        "last_error": "login refused: AUTHENTICATIONFAILED",
        "consecutive_failures": 3,
        "push": True,
        "reported_at": "2025-05-01T13:00:00Z",
    }
    disabled = (await client.patch(url, json={"active": False})).json()["status"]
    assert disabled["state"] == "disabled"
    assert disabled["last_error"] == "login refused: AUTHENTICATIONFAILED"


PATCHABLE = [
    ("email", "new@example.com"),
    ("username", "new-login"),
    ("directory", "Archiv/Kunden ä"),
    ("ca_certificate", CA_PEM),
    ("processed_action", "delete"),
    ("unmatched_action", "ignore"),
    ("ignored_senders", ["@spam.example"]),
    ("default_language", "fr"),
    ("active", False),
    ("poll_interval_seconds", 15),
    ("first_fetch", "all"),
]


async def test_patch_each_setting(client: httpx.AsyncClient) -> None:
    inbox = await create(client, provider="custom", hostname="mail.example.org", port=993)
    url = f"/api/v1/inboxes/{inbox['id']}"
    references = await reference_ids(client)
    for name, value in [*PATCHABLE, *references.items(), ("hostname", "imap2.example.org"), ("port", 1993)]:
        # A change of the server needs the password again (the same one, here).
        again = {"password": PASSWORD} if name in ("username", "ca_certificate", "hostname", "port") else {}
        response = await client.patch(url, json={name: value} | again)
        assert response.status_code == 200, (name, response.text)
        assert (await client.get(url)).json()[name] == value, name
    for name in ("ca_certificate", "default_language", *references):
        again = {"password": PASSWORD} if name == "ca_certificate" else {}
        assert (await client.patch(url, json={name: None} | again)).json()[name] is None, name
    oauth2 = await client.patch(url, json={"oauth2": {"client_id": "app", "tenant_id": "t"}})
    assert oauth2.json()["oauth2"] == {"client_id": "app", "tenant_id": "t"}
    cleared = await client.patch(url, json={"oauth2": None})
    assert (cleared.json()["oauth2"], cleared.json()["client_secret_set"]) == (
        {"client_id": None, "tenant_id": None},
        False,
    )
    unknown = await client.patch(url, json={"id": 5, "password_set": False})
    assert set(fields(unknown)) == {"id", "password_set"}
