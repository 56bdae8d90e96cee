"""/api/v1/tokens: issue API tokens (the secret is in the create response only), list them, revoke them."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Response, status

from intake.config_api import api_tokens
from intake.config_api.routes.deps import PoolDep
from intake.config_api.routes.pagination import DEFAULT_LIMIT, Cursor, Limit, position_from
from intake.config_api.schemas import ApiToken, ApiTokenCreate, NewApiToken, Page

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/tokens", tags=["API tokens"])


@router.get("")
async def list_tokens(pool: PoolDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Page[ApiToken]:
    """Issued tokens, oldest first, without their secrets."""
    return await api_tokens.list_tokens(pool, position_from(cursor), limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_token(body: ApiTokenCreate, pool: PoolDep) -> NewApiToken:
    """Issue a token. `token` is in this response only: store it now, it cannot be shown again."""
    created = await api_tokens.create_token(pool, body.name)
    log.info("api token created", token_id=created.id, prefix=created.prefix)
    return created


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"description": "no such token"}})
async def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**63 - 1)], pool: PoolDep) -> Response:
    """Revoke the token: every later request with it is refused."""
    await api_tokens.revoke_token(pool, token_id)
    log.info("api token revoked", token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
