"""The routes of one kind of reference data: list, create, get, update (PATCH), delete.

`reference_router` builds the five routes for issue types, users and organisations alike; only the
request and response shapes differ. No `from __future__ import annotations` here: FastAPI must see
the request models, which are closure variables, as real annotations.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from intake.config_api import reference_data
from intake.config_api.errors import FieldError, InvalidFields
from intake.config_api.reference_data import ReferenceKind
from intake.config_api.routes.deps import PoolDep
from intake.config_api.routes.pagination import DEFAULT_LIMIT, Cursor, Limit, position_from
from intake.config_api.schemas import Page

RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def reference_router(
    prefix: str,
    tag: str,
    kind: ReferenceKind,
    create_model: type[BaseModel],
    update_model: type[BaseModel],
    out_model: type[BaseModel],
) -> APIRouter:
    """GET/POST `prefix` and GET/PATCH/DELETE `prefix/{id}` for `kind`."""
    router = APIRouter(prefix=prefix, tags=[tag])
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": f"no {kind.label} with this id"}}
    conflict: dict[int | str, dict[str, Any]] = {409: {"description": "the name is taken"}} if kind.unique_name else {}
    page_model = Page[out_model]  # type: ignore[valid-type]

    @router.get("", response_model=page_model, name=f"list {kind.label}s")
    async def list_rows(pool: PoolDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Any:
        items, next_cursor = await reference_data.list_page(pool, kind, position_from(cursor), limit)
        return {"items": items, "next_cursor": next_cursor}

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=out_model,
        responses=conflict,
        name=f"create {kind.label}",
    )
    async def create_row(body: create_model, pool: PoolDep) -> Any:  # type: ignore[valid-type]
        return await reference_data.create(pool, kind, body.model_dump())  # type: ignore[attr-defined]

    @router.get("/{row_id}", response_model=out_model, responses=not_found, name=f"get {kind.label}")
    async def get_row(row_id: RowId, pool: PoolDep) -> Any:
        return await reference_data.get(pool, kind, row_id)

    @router.patch(
        "/{row_id}", response_model=out_model, responses={**not_found, **conflict}, name=f"update {kind.label}"
    )
    async def update_row(row_id: RowId, body: update_model, pool: PoolDep) -> Any:  # type: ignore[valid-type]
        """Change the fields sent; a field sent as null is cleared where it may be empty."""
        changes = body.model_dump(include=body.model_fields_set)  # type: ignore[attr-defined]
        if "name" in changes and changes["name"] is None:
            raise InvalidFields([FieldError(("body", "name"), "must not be null", "null")])
        return await reference_data.update(pool, kind, row_id, changes)

    @router.delete(
        "/{row_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={**not_found, 409: {"description": "inboxes still use it; `inbox_ids` names them"}},
        name=f"delete {kind.label}",
    )
    async def delete_row(row_id: RowId, pool: PoolDep) -> Response:
        async with pool.acquire() as conn:
            await reference_data.delete(conn, kind, row_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
