"""Liveness and readiness probes and the Prometheus metrics (no authentication): is the process up, can it
reach PostgreSQL and RabbitMQ, what do its metrics say."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from intake.config_api.routes.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database or the broker is not reachable"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 when a database query and the broker connection both work, else 503 naming what failed."""
    result = await runtime.readiness()
    return JSONResponse(result.as_json(), status_code=200 if result.ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(runtime: RuntimeDep) -> Response:
    """The service's metrics in the Prometheus text format."""
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
