"""End-to-end fixtures: the three services as real processes over one database, vhost and Dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.oauth2_server import FakeOAuth2Server
from tests.support.processes import Stack, free_port, make_env, wait_until


@pytest.fixture
def stack(database_url: str, amqp_url: str, secret_key: str, admin_token: str, tmp_path: Path) -> Iterator[Stack]:
    env = make_env(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=secret_key,
        admin_token=admin_token,
        api_host="127.0.0.1",
        api_port=str(free_port()),
        log_level="info",
        fetcher_inbox_refresh_seconds="1",
    )
    stack = Stack(env, tmp_path)
    try:
        yield stack
    finally:
        statuses = stack.stop_all()
        # A clean SIGTERM stop is part of the contract (DESIGN §3); a kill here means it hung.
        assert all(code == 0 for code in statuses.values()), f"unclean stop {statuses}\n{stack.logs()}"


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    stack.start("config-api")
    client = Api(f"http://127.0.0.1:{stack.env['INTAKE_API_PORT']}", stack.env["INTAKE_ADMIN_TOKEN"])
    wait_until(client.ready, timeout=60, what="config-api /readyz", explain=stack.logs)
    yield client
    client.http.close()


@pytest.fixture
def oauth2_api(stack: Stack, oauth2_server: FakeOAuth2Server) -> Iterator[Api]:
    """config-api running with every provider endpoint at the fake server; the fetcher pointed at config-api."""
    port = stack.env["INTAKE_API_PORT"]
    stack.env.update(
        {
            "INTAKE_OAUTH2_GOOGLE_AUTHORIZE_URL": oauth2_server.google_authorize_url,
            "INTAKE_OAUTH2_GOOGLE_TOKEN_URL": oauth2_server.google_token_url,
            "INTAKE_OAUTH2_MICROSOFT_AUTHORITY": oauth2_server.microsoft_authority,
            "INTAKE_OAUTH2_CA_FILE": str(oauth2_server.ca_file),
            "INTAKE_OAUTH2_REDIRECT_URL": f"http://127.0.0.1:{port}/api/v1/oauth2/callback",
            "INTAKE_CONFIG_API_URL": f"http://127.0.0.1:{port}",
        }
    )
    stack.start("config-api")
    client = Api(f"http://127.0.0.1:{port}", stack.env["INTAKE_ADMIN_TOKEN"])
    wait_until(client.ready, timeout=60, what="config-api /readyz", explain=stack.logs)
    yield client
    client.http.close()
