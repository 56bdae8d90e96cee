"""config-api's /metrics on its API port: no token needed, build info, and HTTP requests counted by route
template (never by the path with its ids) and status."""

from __future__ import annotations

import aio_pika
import asyncpg
import httpx
from fastapi import FastAPI

from intake.config_api.metrics_refresh import refresh_once
from intake.shared import topology
from tests.support.probes import sample


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    assert (await client.get("/api/v1/inboxes/424242")).status_code == 404
    assert (await client.get("/api/v1/inboxes/424243")).status_code == 404
    assert (await anonymous.get("/no/such/page")).status_code == 404

    response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, "intake_build_info", service="config-api", version="0.1.0") == 1
    labels = {"route": "/api/v1/inboxes/{inbox_id}", "method": "GET", "status": "404"}
    assert sample(text, "intake_http_requests_total", **labels) == 2
    assert sample(text, "intake_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert "424242" not in text


async def test_inbox_state_and_dead_letters_are_read_from_the_database_and_the_queue(
    app: FastAPI, anonymous: httpx.AsyncClient, db: asyncpg.Connection, amqp_url: str
) -> None:
    inbox_id = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption)
           VALUES ('custom', 'help@example.com', 'help', 'imap.example.com', 993, 'tls') RETURNING id"""
    )
    await db.execute(
        """INSERT INTO config.inbox_status (inbox_id, state, consecutive_failures, reported_at)
           VALUES ($1, 'error', 3, now())""",
        inbox_id,
    )
    runtime = app.state.runtime
    await refresh_once(runtime.pool, runtime.broker, runtime.metrics)
    assert runtime.metrics.registry.get_sample_value("intake_dead_letter_messages") == 0
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(aio_pika.Message(b"dead"), routing_key=topology.DEAD_LETTER_QUEUE_NAME)
    await refresh_once(runtime.pool, runtime.broker, runtime.metrics)  # each read asks RabbitMQ again

    text = (await anonymous.get("/metrics")).text
    inbox = str(inbox_id)
    assert sample(text, "intake_inbox_state", inbox=inbox, state="error") == 1
    assert sample(text, "intake_inbox_state", inbox=inbox, state="ok") == 0
    assert sample(text, "intake_inbox_active", inbox=inbox) == 1
    assert sample(text, "intake_inbox_poll_interval_seconds", inbox=inbox) == 60
    assert sample(text, "intake_oauth2_refresh_total", inbox=inbox, outcome="ok") == 0
    assert sample(text, "intake_dead_letter_messages") == 1
