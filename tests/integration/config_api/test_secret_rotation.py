"""Key rotation: every `config.*_encrypted` value re-encrypted with the new key in one transaction, or none."""

from __future__ import annotations

import re
import subprocess

import asyncpg
import httpx
import pytest

from intake.config_api.secret_rotation import RotationFailed, rotate_secrets
from intake.shared.secrets import SecretBox, SecretDecryptionError
from tests.support.processes import BIN, make_env

PASSWORD = "rotate-me-password-1"
CLIENT_SECRET = "rotate-me-client-secret-2"
REFRESH_TOKEN = "rotate-me-refresh-token-3"
EXTRA = "rotate-me-extra-4"


async def stored_secrets(db: asyncpg.Connection, old_key: str, client: httpx.AsyncClient) -> int:
    """An inbox with password and client secret through the API, a refresh token and a secret in a table
    added later (both encrypted with the old key, as the API would); returns the inbox id."""
    body = {
        "provider": "zoho",
        "email": "a@example.com",
        "password": PASSWORD,
        "oauth2": {"client_secret": CLIENT_SECRET},
    }
    inbox_id: int = (await client.post("/api/v1/inboxes", json=body)).json()["id"]
    old = SecretBox(old_key)
    await db.execute(
        "UPDATE config.inboxes SET oauth2_refresh_token_encrypted = $2 WHERE id = $1",
        inbox_id,
        old.encrypt(REFRESH_TOKEN),
    )
    await db.execute("CREATE TABLE config.later_tokens (token_encrypted bytea, note_encrypted bytea, plain bytea)")
    await db.execute("INSERT INTO config.later_tokens VALUES ($1, NULL, 'x'), (NULL, NULL, 'y')", old.encrypt(EXTRA))
    return inbox_id


async def all_secrets(db: asyncpg.Connection) -> list[bytes]:
    row = await db.fetchrow(
        """SELECT password_encrypted, oauth2_client_secret_encrypted, oauth2_refresh_token_encrypted
           FROM config.inboxes"""
    )
    assert row is not None
    extra = await db.fetchval("SELECT token_encrypted FROM config.later_tokens WHERE token_encrypted IS NOT NULL")
    return [*row.values(), extra]


async def test_rotation_re_encrypts_every_secret(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str
) -> None:
    await stored_secrets(db, secret_key, client)
    new_key = SecretBox.generate_key()
    report = await rotate_secrets(db, SecretBox(f"{new_key},{secret_key}"))

    assert report.secrets == 4
    # Columns later migrations add are rotated too; these must be among them.
    assert {
        "config.inboxes.password_encrypted",
        "config.inboxes.oauth2_client_secret_encrypted",
        "config.inboxes.oauth2_refresh_token_encrypted",
        "config.later_tokens.token_encrypted",
        "config.later_tokens.note_encrypted",
    } <= set(report.columns)
    assert "config.later_tokens.plain" not in report.columns
    new = SecretBox(new_key)
    assert [new.decrypt(value) for value in await all_secrets(db)] == [PASSWORD, CLIENT_SECRET, REFRESH_TOKEN, EXTRA]
    for value in await all_secrets(db):
        with pytest.raises(SecretDecryptionError):
            SecretBox(secret_key).decrypt(value)
    assert await db.fetchval("SELECT count(*) FROM config.later_tokens WHERE note_encrypted IS NULL") == 2


async def test_an_undecryptable_value_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, secret_key: str
) -> None:
    await stored_secrets(db, secret_key, client)
    await db.execute(
        "INSERT INTO config.later_tokens VALUES ($1, NULL, 'z')", SecretBox(SecretBox.generate_key()).encrypt("lost")
    )
    before = await all_secrets(db)
    with pytest.raises(RotationFailed) as failed:
        await rotate_secrets(db, SecretBox(f"{SecretBox.generate_key()},{secret_key}"))
    assert "config.later_tokens.token_encrypted" in str(failed.value)
    assert await all_secrets(db) == before


async def test_the_command_rotates_while_the_api_runs(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str, secret_key: str
) -> None:
    await stored_secrets(db, secret_key, client)
    new_key = SecretBox.generate_key()
    done = subprocess.run(
        [str(BIN / "intake-config-api"), "rotate-secrets"],
        env=make_env(database_url=database_url, secret_key=f"{new_key},{secret_key}"),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert re.fullmatch(
        r"re-encrypted 4 secrets with the first key \(\d+ secret columns\)", done.stdout.decode().splitlines()[-1]
    )
    output = done.stdout.decode() + done.stderr.decode()
    for secret in (new_key, secret_key, PASSWORD, CLIENT_SECRET, REFRESH_TOKEN, EXTRA):
        assert secret not in output
    # What the fetcher does with the password: decrypt it with the key it is given, now the new one alone.
    assert SecretBox(new_key).decrypt((await all_secrets(db))[0]) == PASSWORD
    inbox = (await client.get("/api/v1/inboxes")).json()["items"][0]
    assert (inbox["password_set"], inbox["client_secret_set"]) == (True, True)


def test_the_command_migrates_a_fresh_database(database_url: str, secret_key: str) -> None:
    done = subprocess.run(
        [str(BIN / "intake-config-api"), "rotate-secrets"],
        env=make_env(database_url=database_url, secret_key=secret_key),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert re.fullmatch(
        r"re-encrypted 0 secrets with the first key \(\d+ secret columns\)", done.stdout.decode().splitlines()[-1]
    )


def test_the_command_names_a_missing_key() -> None:
    done = subprocess.run(
        [str(BIN / "intake-config-api"), "rotate-secrets"], env=make_env(), capture_output=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.decode() == "intake-config-api rotate-secrets: INTAKE_SECRET_KEY is required but not set\n"


def test_unknown_command_is_refused() -> None:
    done = subprocess.run([str(BIN / "intake-config-api"), "rotate"], env=make_env(), capture_output=True, timeout=60)
    assert done.returncode == 2
    assert "invalid choice: 'rotate'" in done.stderr.decode()
