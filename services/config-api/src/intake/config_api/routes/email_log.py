"""GET /api/v1/email-log: the email log, filtered and paginated newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from intake.config_api import email_log
from intake.config_api.routes.deps import PoolDep
from intake.config_api.routes.pagination import DEFAULT_LIMIT, Cursor, Limit, position_from
from intake.config_api.schemas import EmailLogEntry, LogOutcome, Page

router = APIRouter(prefix="/email-log", tags=["email log"])


@router.get("")
async def list_email_log(
    pool: PoolDep,
    inbox_id: Annotated[int | None, Query(ge=1)] = None,
    outcome: LogOutcome | None = None,
    since: Annotated[datetime | None, Query(description="fetched at or after (ISO 8601; naive = UTC)")] = None,
    until: Annotated[datetime | None, Query(description="fetched before (ISO 8601; naive = UTC)")] = None,
    sender: Annotated[str | None, Query(max_length=320, description="part of the sender address")] = None,
    q: Annotated[str | None, Query(max_length=500, description="part of the subject")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[EmailLogEntry]:
    filters = email_log.EmailLogFilter(inbox_id=inbox_id, outcome=outcome, since=since, until=until, sender=sender, q=q)
    return await email_log.list_email_log(pool, filters, position_from(cursor), limit)
