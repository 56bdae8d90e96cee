"""A fresh database and RabbitMQ vhost for one benchmark run, removed afterwards.

Taken from the same environment variables the tests read (INTAKE_TEST_DATABASE_URL,
INTAKE_TEST_AMQP_URL, INTAKE_TEST_RABBITMQ_API), loopback defaults otherwise.
"""

from __future__ import annotations

import os

import asyncpg

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
