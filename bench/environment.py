"""A fresh database and RabbitMQ vhost for one benchmark run, removed afterwards.

Taken from the same environment variables the tests read (INTAKE_TEST_DATABASE_URL,
INTAKE_TEST_AMQP_URL, INTAKE_TEST_RABBITMQ_API), loopback defaults otherwise.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import asyncpg

from intake.shared.secrets import SecretBox
from tests.support.processes import Stack, free_port, make_env
from tests.support.services import (
    LOOPBACK_AMQP_URL,
    LOOPBACK_DATABASE_URL,
    LOOPBACK_RABBITMQ_API,
    RabbitMQ,
    unique_name,
    with_database,
)


class Environment:
    """`async with Environment() as env:` gives `env.database_url` and `env.amqp_url`, both new and empty."""

    def __init__(self) -> None:
        self.admin_url = os.environ.get("INTAKE_TEST_DATABASE_URL", LOOPBACK_DATABASE_URL)
        self.rabbitmq = RabbitMQ(
            os.environ.get("INTAKE_TEST_AMQP_URL", LOOPBACK_AMQP_URL),
            os.environ.get("INTAKE_TEST_RABBITMQ_API", LOOPBACK_RABBITMQ_API),
        )
        self.name = unique_name("intake_bench")
        self.database_url = with_database(self.admin_url, self.name)
        self.amqp_url = ""

    def stack(self, workdir: Path) -> Stack:
        """The three services as processes over this database and vhost (fresh secrets, a free API port,
        inboxes re-read every second); nothing started yet."""
        return Stack(
            make_env(
                database_url=self.database_url,
                amqp_url=self.amqp_url,
                secret_key=SecretBox.generate_key(),
                admin_token=secrets.token_urlsafe(32),
                api_host="127.0.0.1",
                api_port=str(free_port()),
                fetcher_inbox_refresh_seconds="1",
            ),
            workdir,
        )

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def create(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        self.amqp_url = self.rabbitmq.create_vhost(self.name)

    async def remove(self) -> None:
        self.rabbitmq.delete_vhost(self.name)
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    async def __aenter__(self) -> Environment:
        await self.create()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.remove()
