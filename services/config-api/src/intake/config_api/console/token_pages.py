"""API tokens (DESIGN §1): issue one (its secret is shown on that one page and never again), list, revoke.

Revoking a token ends every console session that was opened with it (the sessions go with the row).
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from intake.config_api import api_tokens
from intake.config_api.console.access import FormDep, SessionDep
from intake.config_api.console.inbox_form_errors import error_words
from intake.config_api.console.rendering import redirect, render
from intake.config_api.errors import NotFound, public_errors
from intake.config_api.routes.deps import PoolDep
from intake.config_api.routes.pagination import position_from
from intake.config_api.schemas import ApiTokenCreate, NewApiToken

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

TokenId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PAGE_SIZE = 100


async def _page(
    request: Request,
    pool: Any,
    *,
    cursor: str | None = None,
    created: NewApiToken | None = None,
    errors: dict[str, str] | None = None,
    name: str = "",
    status_code: int = 200,
) -> Response:
    page = await api_tokens.list_tokens(pool, position_from(cursor), PAGE_SIZE)
    errors = errors or {}
    context = {
        "tokens": page.items,
        "created": created,
        "errors": errors,
        "summary": [(field, "Name", message) for field, message in errors.items()],
        "name": name,
        "next_url": f"/api-tokens?cursor={page.next_cursor}" if page.next_cursor else None,
        "first_url": "/api-tokens" if cursor else None,
    }
    return render(request, "tokens/page.html", context, status_code)


@router.get("/api-tokens")
async def tokens_page(
    request: Request, _: SessionDep, pool: PoolDep, cursor: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    return await _page(request, pool, cursor=cursor)


@router.post("/api-tokens/new")
async def create_token(request: Request, form: FormDep, pool: PoolDep) -> Response:
    name = form.get("name")
    try:
        body = ApiTokenCreate.model_validate({"name": name})
    except ValidationError as error:
        entry = public_errors(error.errors())[0]
        return await _page(
            request, pool, errors={"token-name": error_words("name", entry, name.strip())}, name=name, status_code=422
        )
    created = await api_tokens.create_token(pool, body.name)
    log.info("api token created", token_id=created.id, prefix=created.prefix, via="console")
    # Shown on this response only (no redirect: the secret must not travel through a cookie or a URL).
    return await _page(request, pool, created=created, status_code=201)


@router.get("/api-tokens/{token_id}/revoke")
async def confirm_revoke(request: Request, token_id: TokenId, _: SessionDep, pool: PoolDep) -> Response:
    token = await _token(pool, token_id)
    return render(request, "tokens/revoke.html", {"token": token})


@router.post("/api-tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: TokenId, _: FormDep, pool: PoolDep) -> Response:
    token = await _token(pool, token_id)
    await api_tokens.revoke_token(pool, token_id)
    log.info("api token revoked", token_id=token_id, via="console")
    return redirect(
        request, "/api-tokens", f"Token “{token['name']}” revoked: programs using it and its console sessions are out."
    )


async def _token(pool: Any, token_id: int) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT id, name, prefix, created_at, last_used_at FROM config.api_tokens WHERE id = $1", token_id
    )
    if row is None:
        raise NotFound(f"no API token with id {token_id}")
    return dict(row)
