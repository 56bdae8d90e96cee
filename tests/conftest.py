"""Fixtures every test tier shares: real PostgreSQL and RabbitMQ, each test with its own database and vhost.

See tests/support/services.py for where the servers come from. Nothing here mocks a service.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any, NoReturn, Protocol

import asyncpg
import pytest

from intake.shared.secrets import SecretBox
from tests.support.blocking import run_blocking
from tests.support.services import (
    LOOPBACK_AMQP_URL,
    LOOPBACK_DATABASE_URL,
    LOOPBACK_RABBITMQ_API,
    RabbitMQ,
    port_open,
    unique_name,
    with_database,
)

# The Dovecot fixture lives with its helpers; registering it here makes it available to every tier.
pytest_plugins = ["tests.support.dovecot", "tests.support.oauth2_server", "tests.support.browser"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-services",
        action="store_true",
        help="fail, instead of skipping, the tests that need PostgreSQL or RabbitMQ when either is missing "
        "(.ci/run turns it on through PYTEST_ADDOPTS)",
    )


class _Options(Protocol):
    """What `_missing` asks of pytest's config."""

    def getoption(self, name: str) -> Any: ...


def _missing(config: _Options, reason: str) -> NoReturn:
    """Skip the test that needs a missing service, or fail it under `--require-services`."""
    if config.getoption("require_services"):
        pytest.fail(f"{reason} (--require-services)", pytrace=False)
    pytest.skip(reason)


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database, as a superuser that may create databases."""
    if url := os.environ.get("INTAKE_TEST_DATABASE_URL"):
        yield url
        return
    if port_open("127.0.0.1", 5432):
        yield LOOPBACK_DATABASE_URL
        return
    if not _docker_answers():
        _missing(
            pytestconfig, "no PostgreSQL: set INTAKE_TEST_DATABASE_URL, run one on 127.0.0.1:5432, or start Docker"
        )
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15-alpine", username="postgres", password="postgres", driver=None) as pg:
        yield pg.get_connection_url()


@pytest.fixture(scope="session")
def rabbitmq_server(pytestconfig: pytest.Config) -> Iterator[RabbitMQ]:
    """A RabbitMQ server with the management API (used to create a vhost per test)."""
    if url := os.environ.get("INTAKE_TEST_AMQP_URL"):
        yield RabbitMQ(url, os.environ.get("INTAKE_TEST_RABBITMQ_API", LOOPBACK_RABBITMQ_API))
        return
    if port_open("127.0.0.1", 5672):
        if not port_open("127.0.0.1", 15672):
            _missing(
                pytestconfig,
                "RabbitMQ on 127.0.0.1 has no management API: run `rabbitmq-plugins enable rabbitmq_management`",
            )
        yield RabbitMQ(LOOPBACK_AMQP_URL, LOOPBACK_RABBITMQ_API)
        return
    if not _docker_answers():
        _missing(pytestconfig, "no RabbitMQ: set INTAKE_TEST_AMQP_URL, run one on 127.0.0.1:5672, or start Docker")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    with DockerContainer("rabbitmq:3.13-management").with_exposed_ports(5672, 15672) as container:
        wait_for_logs(container, "Server startup complete", timeout=120)
        host = container.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/"
        api = f"http://guest:guest@{host}:{container.get_exposed_port(15672)}/api"
        yield RabbitMQ(amqp, api)


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = unique_name("intake_test")
    run_blocking(_admin(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(postgres_admin_url, name)
    finally:
        run_blocking(_admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def amqp_url(rabbitmq_server: RabbitMQ) -> Iterator[str]:
    """A fresh RabbitMQ vhost for one test, deleted afterwards."""
    vhost = unique_name("intake_test")
    url = rabbitmq_server.create_vhost(vhost)
    try:
        yield url
    finally:
        rabbitmq_server.delete_vhost(vhost)


@pytest.fixture
def secret_key() -> str:
    return SecretBox.generate_key()


@pytest.fixture
def admin_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def service_token() -> str:
    """INTAKE_SERVICE_TOKEN: what the fetcher presents to config-api's internal endpoint."""
    return secrets.token_urlsafe(32)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's fresh database."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()
