"""schemathesis against `intake-config-api` as a real process on real PostgreSQL and RabbitMQ: no answer is a
5xx, and every status code, content type, header and body matches the served OpenAPI document.

The ingestor's tracker views and the blob store are migrated first, as in a running stack. Left out:
the connection test (`…/test`), which connects to whatever host a request names, and the OAuth2
routes and the internal access-token endpoint, which call the identity providers: generated requests
must never leave this machine.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from intake.shared.migrations import migrate, migrate_blobs
from tests.support.processes import ServiceProcess, free_port, make_env, wait_until

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXCLUDED_PATHS = r"(/test$|/oauth2/|/internal/)"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance," + (
    "response_headers_conformance"
)


async def _migrate_stack(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate_blobs(conn)
        await migrate(conn, "intake.ingestor", "tracker")
    finally:
        await conn.close()


@pytest.fixture
def config_api(database_url: str, amqp_url: str, secret_key: str, admin_token: str, tmp_path: Path) -> Iterator[str]:
    asyncio.run(_migrate_stack(database_url))
    port = free_port()
    env = make_env(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=secret_key,
        admin_token=admin_token,
        api_port=str(port),
        log_level="warning",
    )
    service = ServiceProcess("config-api", env, tmp_path / "config-api.log").start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=90, what="config-api to be ready", explain=service.log)
        yield url
    finally:
        assert service.stop() == 0, service.log()[-4000:]
        assert "Traceback" not in service.log(), service.log()[-8000:]


@pytest.mark.timeout(900)
def test_the_api_keeps_to_its_openapi_document(config_api: str, admin_token: str, tmp_path: Path) -> None:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{config_api}/openapi.json",
        "--header",
        f"Authorization: Bearer {admin_token}",
        "--exclude-path-regex",
        EXCLUDED_PATHS,
        "--checks",
        CHECKS,
        "--max-examples",
        "15",
        "--workers",
        "1",
        "--seed",
        "20261124",
        "--request-timeout",
        "30",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=840, check=False)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
