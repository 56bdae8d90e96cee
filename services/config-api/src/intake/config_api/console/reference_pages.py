"""Reference data (DESIGN §1): issue types, users and organisations on one page: create, rename, delete.

Each change goes through `reference_data` with the API's request models, so the same names are accepted
and refused. Deleting an item an inbox still uses is refused (409) with the inboxes named and linked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from intake.config_api import reference_data
from intake.config_api.console.access import FormDep, SessionDep
from intake.config_api.console.inbox_form_errors import error_words
from intake.config_api.console.rendering import redirect, render
from intake.config_api.errors import Conflict, NotFound, public_errors
from intake.config_api.reference_data import ISSUE_TYPES, ORGANISATIONS, USERS, ReferenceKind
from intake.config_api.routes.deps import PoolDep
from intake.config_api.schemas import (
    IssueTypeCreate,
    IssueTypeUpdate,
    OrganisationCreate,
    OrganisationUpdate,
    UserCreate,
    UserUpdate,
)

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

LIMIT = 200
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@dataclass(frozen=True)
class Section:
    slug: str  # in addresses and field ids
    title: str
    kind: ReferenceKind
    create: type[BaseModel]
    update: type[BaseModel]
    fields: tuple[str, ...]  # what the forms ask for


SECTIONS = {
    section.slug: section
    for section in (
        Section("issue-types", "Issue types", ISSUE_TYPES, IssueTypeCreate, IssueTypeUpdate, ("name",)),
        Section("users", "Users", USERS, UserCreate, UserUpdate, ("name", "email")),
        Section("organisations", "Organisations", ORGANISATIONS, OrganisationCreate, OrganisationUpdate, ("name",)),
    )
}


async def _page(
    request: Request,
    pool: Any,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    conflict: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    sections = []
    for section in SECTIONS.values():
        rows, more = await reference_data.list_page(pool, section.kind, None, LIMIT)
        sections.append({"section": section, "rows": rows, "more": more is not None})
    errors = errors or {}
    summary = [(field_id, _field_label(field_id), message) for field_id, message in errors.items()]
    context = {"sections": sections, "errors": errors, "values": values or {}, "summary": summary, "conflict": conflict}
    return render(request, "reference/page.html", context, status_code)


def _field_label(field_id: str) -> str:
    slug, _, rest = field_id.partition("--")
    section = SECTIONS.get(slug)
    what = section.kind.label if section else "item"
    return f"{what.capitalize()} {rest.rsplit('-', 1)[-1]}"


def _section(slug: str) -> Section:
    section = SECTIONS.get(slug)
    if section is None:
        raise NotFound(f"no reference data called {slug!r}")
    return section


def _validated(model: type[BaseModel], values: dict[str, Any], prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the values as the API takes them, {field id: message})."""
    try:
        return model.model_validate(values).model_dump(include=set(values)), {}
    except ValidationError as error:
        errors = {}
        for entry in public_errors(error.errors()):
            name = str(entry["loc"][0]) if entry.get("loc") else "name"
            errors[f"{prefix}-{name}"] = error_words(name, entry, values.get(name))
        return {}, errors


@router.get("/reference-data")
async def reference_page(request: Request, _: SessionDep, pool: PoolDep) -> Response:
    return await _page(request, pool)


@router.post("/reference-data/{slug}/new")
async def create_item(request: Request, slug: str, form: FormDep, pool: PoolDep) -> Response:
    section = _section(slug)
    prefix = f"{slug}--new"
    submitted = {name: form.get(name).strip() for name in section.fields}
    values = {name: value for name, value in submitted.items() if value or name == "name"}
    clean, errors = _validated(section.create, values, prefix)
    if not errors:
        try:
            row = await reference_data.create(pool, section.kind, clean)
        except Conflict as conflict:
            errors = {f"{prefix}-name": str(conflict)}
        else:
            log.info("console reference data created", kind=section.kind.label, id=row["id"])
            return redirect(request, "/reference-data", f"{section.kind.label.capitalize()} “{row['name']}” added.")
    shown = {f"{prefix}-{name}": value for name, value in submitted.items()}
    return await _page(request, pool, errors=errors, values=shown, status_code=422)


@router.post("/reference-data/{slug}/{row_id}/rename")
async def rename_item(request: Request, slug: str, row_id: RowId, form: FormDep, pool: PoolDep) -> Response:
    section = _section(slug)
    prefix = f"{slug}--{row_id}"
    submitted = {name: form.get(name).strip() for name in section.fields}
    # An empty e-mail address clears it; an empty name is refused by the model.
    values: dict[str, Any] = {name: (value or None) if name == "email" else value for name, value in submitted.items()}
    clean, errors = _validated(section.update, values, prefix)
    if not errors:
        try:
            row = await reference_data.update(pool, section.kind, row_id, clean)
        except Conflict as conflict:
            errors = {f"{prefix}-name": str(conflict)}
        else:
            log.info("console reference data renamed", kind=section.kind.label, id=row_id)
            return redirect(request, "/reference-data", f"{section.kind.label.capitalize()} saved as “{row['name']}”.")
    shown = {f"{prefix}-{name}": value for name, value in submitted.items()}
    return await _page(request, pool, errors=errors, values=shown, status_code=422)


@router.post("/reference-data/{slug}/{row_id}/delete")
async def delete_item(request: Request, slug: str, row_id: RowId, _: FormDep, pool: PoolDep) -> Response:
    section = _section(slug)
    row = await reference_data.get(pool, section.kind, row_id)
    try:
        async with pool.acquire() as conn:
            await reference_data.delete(conn, section.kind, row_id)
    except Conflict as conflict:
        inboxes = await pool.fetch(
            "SELECT id, email FROM config.inboxes WHERE id = ANY($1::bigint[]) ORDER BY id", list(conflict.inbox_ids)
        )
        refusal = {"label": section.kind.label, "name": row["name"], "inboxes": [dict(inbox) for inbox in inboxes]}
        return await _page(request, pool, conflict=refusal, status_code=409)
    log.info("console reference data deleted", kind=section.kind.label, id=row_id)
    return redirect(request, "/reference-data", f"{section.kind.label.capitalize()} “{row['name']}” deleted.")
