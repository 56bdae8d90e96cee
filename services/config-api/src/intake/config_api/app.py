"""Building the config API's FastAPI application from settings: routes, error bodies, and the lifespan.

`create_app` connects nothing; the lifespan starts the `Runtime` (pool, migrations, broker and the
email log consumers) when the server starts and stops it when the server stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import asyncpg.exceptions._base as asyncpg_base
import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake.config_api.console import console_config, install_console
from intake.config_api.console.error_pages import console_error, http_error_page, is_console_path
from intake.config_api.errors import (
    BusUnavailable,
    ConfigApiError,
    Conflict,
    InvalidFields,
    NotFound,
    TrackerUnavailable,
    public_errors,
)
from intake.config_api.http_metrics import HttpMetrics
from intake.config_api.metrics import ConfigApiMetrics
from intake.config_api.routes import (
    connection_test,
    email_log,
    health,
    inboxes,
    internal,
    issue_types,
    issues,
    oauth2,
    organisations,
    providers,
    tokens,
    users,
)
from intake.config_api.routes.deps import require_token
from intake.config_api.runtime import Runtime
from intake.config_api.settings import ConfigApiSettings

API_PREFIX = "/api/v1"

log = structlog.get_logger(__name__)

_STATUS = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    TrackerUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    BusUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}


async def _config_api_error(request: Request, error: Exception) -> Response:
    if is_console_path(request.url.path):
        return await console_error(request, error)
    if isinstance(error, InvalidFields):
        detail = [e.as_json() for e in error.errors]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    code = next((code for kind, code in _STATUS.items() if isinstance(error, kind)), 500)
    body: dict[str, object] = {"detail": str(error)}
    if isinstance(error, Conflict) and error.inbox_ids:
        body["inbox_ids"] = list(error.inbox_ids)
    return JSONResponse(body, status_code=code)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if is_console_path(request.url.path) and error.status_code in (404, 405):
        return await http_error_page(request, error)
    return await http_exception_handler(request, error)


async def _validation_error(request: Request, error: Exception) -> Response:
    # FastAPI's default body echoes each failing `input`, which may be a password: drop it.
    assert isinstance(error, RequestValidationError)
    if is_console_path(request.url.path):
        # A console address with a malformed part (/inboxes/abc) names no page.
        return await http_error_page(request, StarletteHTTPException(404))
    return JSONResponse({"detail": public_errors(error.errors())}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


_ERROR_MESSAGE_SCHEMA = {
    "title": "ErrorMessage",
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}


async def _text_not_storable(_: Request, error: Exception) -> JSONResponse:
    # PostgreSQL text cannot hold NUL (U+0000): a value with one is the client's error, never a 500.
    detail = [{"type": "string_not_storable", "loc": ["request"], "msg": "text must not contain NUL characters"}]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _value_not_storable(request: Request, error: Exception) -> JSONResponse:
    """A safety net: a value the database cannot take (out of a column's range, an impossible date) is the
    client's error, never a 500. Each known case is checked before the query; this catches one that was missed.

    asyncpg refuses such an argument before sending it (its client-side DataError) or PostgreSQL does
    (SQLSTATE class 22). Neither message is returned or logged whole: it may quote the value.
    """
    sqlstate = getattr(error, "sqlstate", None)
    log.warning(
        "request value not storable",
        method=request.method,
        path=request.url.path,
        error_type=type(error).__name__,
        sqlstate=sqlstate,
    )
    detail = [
        {
            "type": "value_not_storable",
            "loc": ["request"],
            "msg": "a value in the request is outside what can be stored (a number or date out of range)",
        }
    ]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def document_common_errors(document: dict[str, Any]) -> None:
    """Add the answers every operation may give to the OpenAPI document, so clients (and schemathesis) know them:
    401 on each operation that needs the bearer token, 400 on each that takes a body that may not parse, 404 on
    each with a path parameter (it may name nothing)."""
    document.setdefault("components", {}).setdefault("schemas", {})["ErrorMessage"] = _ERROR_MESSAGE_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", {"description": "no valid bearer token", "content": error})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "the body cannot be parsed as JSON", "content": error})
            if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
                responses.setdefault("404", {"description": "nothing has that id", "content": error})


def create_app(
    settings: ConfigApiSettings, *, wait_seconds: float = 60.0, metrics: ConfigApiMetrics | None = None
) -> FastAPI:
    """The config API for `settings`; `wait_seconds` bounds waiting for PostgreSQL/RabbitMQ at start.

    `metrics` (a new registry by default) is what `/metrics` serves."""
    metrics = metrics if metrics is not None else ConfigApiMetrics()
    runtime = Runtime(settings, wait_seconds=wait_seconds, metrics=metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Intake config API",
        summary="Inbox settings, reference data, the email log and issues.",
        version="1",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.stopping = asyncio.Event()  # set by server.serve when the server stops; ends long-lived responses
    app.add_middleware(HttpMetrics, metrics=metrics)
    app.add_exception_handler(ConfigApiError, _config_api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, _text_not_storable)
    # asyncpg's client-side DataError (an argument it cannot encode) and PostgreSQL's data exceptions.
    app.add_exception_handler(asyncpg_base.DataError, _value_not_storable)
    app.add_exception_handler(asyncpg.DataError, _value_not_storable)

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_token)])
    for module in (
        providers,
        connection_test,
        inboxes,
        issue_types,
        users,
        organisations,
        tokens,
        email_log,
        issues,
        oauth2,
    ):
        api.include_router(module.router)
    app.include_router(health.router)
    app.include_router(api)
    # The provider sends the browser back without a bearer token; the single-use state authenticates it.
    app.include_router(oauth2.callback_router, prefix=API_PREFIX)
    app.include_router(internal.router)
    install_console(
        app,
        console_config(
            settings.secret_key.get_secret_value(),
            runtime.admin_token,
            settings.console_session_minutes,
            settings.console_trust_forwarded_proto,
        ),
    )

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_common_errors(generate_openapi())  # FastAPI caches the document it returns; amend it once
        return app.openapi_schema or generate_openapi()

    app.openapi = openapi  # type: ignore[method-assign]
    return app
