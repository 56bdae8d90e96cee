"""config-api's /metrics on its API port: no token needed, build info, and HTTP requests counted by route
template (never by the path with its ids) and status."""

from __future__ import annotations

import httpx

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
