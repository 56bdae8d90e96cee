"""GET/POST /api/v1/issue-types: the reference list of issue types (a fresh install has `Support`)."""

from __future__ import annotations

from fastapi import APIRouter, status

from intake.config_api import repository
from intake.config_api.routes.deps import PoolDep
from intake.config_api.schemas import IssueType, IssueTypeCreate

router = APIRouter(prefix="/issue-types", tags=["issue types"])


@router.get("")
async def list_issue_types(pool: PoolDep) -> list[IssueType]:
    return await repository.list_issue_types(pool)


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"description": "the name is taken"}})
async def create_issue_type(body: IssueTypeCreate, pool: PoolDep) -> IssueType:
    return await repository.create_issue_type(pool, body.name)
