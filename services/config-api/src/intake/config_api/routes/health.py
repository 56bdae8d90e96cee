"""Liveness and readiness probes and the Prometheus metrics (no authentication): is the process up, can it
reach PostgreSQL and RabbitMQ, what do its metrics say."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from intake.config_api.routes.deps import RuntimeDep

log = structlog.get_logger(__name__)

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database or the broker is not reachable"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 when a database query and the broker connection both work, else 503 naming what failed."""
    checks = {"database": "ok", "broker": "ok"}
    try:
        await asyncio.wait_for(runtime.pool.fetchval("SELECT 1"), CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness: database check failed", error=str(error) or type(error).__name__)
        checks["database"] = "unreachable"
    try:
        broker_ok = await runtime.broker.ping(timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        log.warning("readiness: broker check failed", error=str(error) or type(error).__name__)
        broker_ok = False
    if not broker_ok:
        checks["broker"] = "unreachable"
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(runtime: RuntimeDep) -> Response:
    """The service's metrics in the Prometheus text format."""
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
