"""The probe listener served by uvicorn beside a service's main coroutine: it answers while the service
runs, stops with it, and a listener that cannot bind stops the service with a clear error."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from intake.shared.metrics import new_registry
from intake.shared.probe_listener import ListenerFailed, create_listener, probe_app, run_beside
from intake.shared.probes import Readiness
from tests.support.processes import free_port


async def ready() -> Readiness:
    return Readiness({"database": "ok", "broker": "ok"})


async def test_answers_while_main_runs_and_stops_with_it() -> None:
    port = free_port()
    listener = create_listener(probe_app(new_registry("ingestor"), ready), "127.0.0.1", port)
    answers: list[int] = []

    async def main(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):  # until uvicorn listens
                try:
                    answers.append((await http.get("/healthz")).status_code)
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            answers.append((await http.get("/readyz")).status_code)
            answers.append((await http.get("/metrics")).status_code)

    await asyncio.wait_for(run_beside(listener, main, asyncio.Event()), 30)
    assert answers == [200, 200, 200]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


async def test_a_port_already_taken_stops_the_service_and_says_where() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listener = create_listener(probe_app(new_registry("fetcher"), ready), "127.0.0.1", port)

        async def main(stop: asyncio.Event) -> None:
            await stop.wait()  # a service runs until stopped; the failed listener stops it

        with pytest.raises(ListenerFailed, match=f"127.0.0.1:{port}"):
            await asyncio.wait_for(run_beside(listener, main, asyncio.Event()), 30)
