"""The app under a real uvicorn server, run and stopped the way `intake-config-api` does it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from intake.config_api.app import create_app
from intake.config_api.errors import StartupFailed
from intake.config_api.server import create_server, serve
from intake.config_api.settings import ConfigApiSettings
from tests.integration.config_api.conftest import eventually, free_port, started


async def test_serves_over_tcp(served: str, admin_token: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        assert (await client.get("/readyz")).status_code == 200
        response = await client.get("/api/v1/issue-types", headers={"Authorization": f"Bearer {admin_token}"})
        assert [t["name"] for t in response.json()["items"]] == ["Support"]


async def test_stop_event_shuts_down_cleanly(settings: ConfigApiSettings) -> None:
    app = create_app(settings, wait_seconds=5)
    server = create_server(app, "127.0.0.1", free_port())
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(server, stop))
    await eventually(lambda: started(server, serving))
    assert app.state.runtime.pool is not None

    stop.set()
    await asyncio.wait_for(serving, 30)
    assert serving.exception() is None
    with pytest.raises(RuntimeError, match="not started"):  # the lifespan shutdown released the connections
        _ = app.state.runtime.pool


async def test_startup_failure_ends_serving(settings: ConfigApiSettings) -> None:
    broken = settings.model_copy(update={"amqp_url": SecretStr("amqp://guest:guest@127.0.0.1:1/")})
    server = create_server(create_app(broken, wait_seconds=0.5), "127.0.0.1", free_port())
    with pytest.raises(StartupFailed):
        await asyncio.wait_for(serve(server, asyncio.Event()), 30)
