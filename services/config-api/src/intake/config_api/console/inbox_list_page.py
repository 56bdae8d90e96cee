"""Configuration → Inboxes, the list (DESIGN §1): each inbox with its health in words and icon, last success,
last error, failures, push or poll, and today's email log counts by outcome, each linking to the log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from intake.config_api import inbox_repository, reference_data
from intake.config_api.console.access import SessionDep
from intake.config_api.console.inbox_activity import counts_since
from intake.config_api.console.labels import OUTCOMES, iso_utc, start_of_day
from intake.config_api.console.rendering import render
from intake.config_api.reference_data import ISSUE_TYPES
from intake.config_api.routes.deps import PoolDep
from intake.config_api.routes.pagination import position_from

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# Enough for any real deployment's pickers; a longer list is cut and says so.
REFERENCE_LIMIT = 200


@router.get("/inboxes")
async def inbox_list(
    request: Request,
    _: SessionDep,
    pool: PoolDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    page = await inbox_repository.list_inboxes(pool, position_from(cursor), PAGE_SIZE)
    today = start_of_day(datetime.now(UTC))
    counts = await counts_since(pool, [inbox.id for inbox in page.items], today)
    issue_types, _more = await reference_data.list_page(pool, ISSUE_TYPES, None, REFERENCE_LIMIT)
    since = iso_utc(today)
    rows = []
    for inbox in page.items:
        links = [
            (outcome, n, "/email-log?" + urlencode({"inbox_id": inbox.id, "outcome": outcome, "since": since}))
            for outcome in OUTCOMES
            if (n := counts.get(inbox.id, {}).get(outcome))
        ]
        rows.append({"inbox": inbox, "today": links, "today_total": sum(n for _, n, _ in links)})
    return render(
        request,
        "inboxes/list.html",
        {
            "rows": rows,
            "issue_types": {row["id"]: row["name"] for row in issue_types},
            "today_url": "/email-log?" + urlencode({"since": since}),
            "next_url": f"/inboxes?{urlencode({'cursor': page.next_cursor})}" if page.next_cursor else None,
            "first_url": "/inboxes" if cursor else None,
        },
    )
