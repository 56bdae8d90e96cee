"""The probe listener's ASGI app: /healthz, /readyz (200 or 503 naming what failed), /metrics, and nothing else."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import Counter

from intake.shared.metrics import new_registry
from intake.shared.probe_listener import probe_app
from intake.shared.probes import Readiness


def client(readiness: Readiness) -> httpx.AsyncClient:
    registry = new_registry("fetcher")
    Counter("intake_test_events", "Events.", registry=registry).inc(3)

    async def answer() -> Readiness:
        return readiness

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=probe_app(registry, answer)), base_url="http://probe")


async def test_healthz_answers_whatever_the_connections_say() -> None:
    async with client(Readiness({"database": "unreachable"})) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("checks", "status"),
    [({"database": "ok", "broker": "ok"}, 200), ({"database": "unreachable", "broker": "ok"}, 503)],
)
async def test_readyz_is_200_only_when_every_check_is_ok(checks: dict[str, str], status: int) -> None:
    async with client(Readiness(checks)) as http:
        response = await http.get("/readyz")
    assert response.status_code == status
    assert response.json()["checks"] == checks


async def test_metrics_is_the_registry_in_the_text_format() -> None:
    async with client(Readiness({})) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "intake_test_events_total 3.0" in response.text
    assert 'intake_build_info{service="fetcher",version="0.1.0"} 1.0' in response.text


async def test_other_paths_and_methods_are_refused() -> None:
    async with client(Readiness({})) as http:
        assert (await http.get("/")).status_code == 404
        assert (await http.post("/healthz")).status_code == 405
        assert (await http.head("/readyz")).status_code == 200
