"""FastAPI dependencies shared by the routes: the running service's connections and the bearer token check."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from intake.config_api import api_tokens
from intake.config_api.auth import token_matches
from intake.config_api.runtime import Runtime

_bearer = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer <token>`: `INTAKE_ADMIN_TOKEN` or a token from /api/v1/tokens"
)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_pool(runtime: Annotated[Runtime, Depends(get_runtime)]) -> asyncpg.Pool:
    return runtime.pool


async def require_token(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the request through only with the admin token or an issued API token as its bearer token (RFC 6750)."""
    presented = credentials.credentials if credentials else None
    if token_matches(presented, runtime.admin_token):
        return
    if presented is None or await api_tokens.authenticate(runtime.pool, presented) is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
