"""HTTP requests are counted by their route's full template, also through included routers, and a path no
route matched or a made-up method never becomes a label value of its own."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI

from intake.config_api.http_metrics import HttpMetrics
from intake.config_api.metrics import ConfigApiMetrics


def app_with(metrics: ConfigApiMetrics) -> FastAPI:
    inner = APIRouter(prefix="/things")

    @inner.get("/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    outer = APIRouter(prefix="/api/v1")
    outer.include_router(inner)
    app = FastAPI()
    app.include_router(outer)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(HttpMetrics, metrics=metrics)
    return app


async def test_requests_are_counted_by_template_method_and_status() -> None:
    metrics = ConfigApiMetrics()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app_with(metrics)), base_url="http://t") as http:
        await http.get("/api/v1/things/1")
        await http.get("/api/v1/things/2")
        await http.get("/api/v1/things/not-a-number")
        await http.get("/healthz")
        await http.get("/elsewhere/3")
        await http.request("BREW", "/healthz")

    def count(route: str, method: str, status: str) -> float | None:
        labels = {"route": route, "method": method, "status": status}
        return metrics.registry.get_sample_value("intake_http_requests_total", labels)

    assert count("/api/v1/things/{thing_id}", "GET", "200") == 2
    assert count("/api/v1/things/{thing_id}", "GET", "422") == 1
    assert count("/healthz", "GET", "200") == 1
    assert count("unmatched", "GET", "404") == 1
    assert count("/healthz", "other", "405") == 1
    labels = {"route": "/api/v1/things/{thing_id}", "method": "GET"}
    assert metrics.registry.get_sample_value("intake_http_request_duration_seconds_count", labels) == 3
