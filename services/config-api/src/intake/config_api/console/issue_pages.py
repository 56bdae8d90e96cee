"""Issues (DESIGN §1): the list (number, title, requester, type, status, updated; cursor pages) and one issue
with its messages (from, to, cc, date, text body), their attachments as downloads, and for each message
the email log row it came from.

A message is shown by its text body; its HTML is never put into the console's document, only (sanitised by
`html_bodies`) into a sandboxed `<iframe srcdoc>` without any permission, behind a disclosure.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from intake.config_api import issue_views, message_sources, reference_data
from intake.config_api.console.access import SessionDep
from intake.config_api.console.email_log_rows import inbox_addresses
from intake.config_api.console.error_pages import error_page
from intake.config_api.console.html_bodies import MAX_READ_BYTES, html_view
from intake.config_api.console.rendering import render
from intake.config_api.errors import TrackerUnavailable
from intake.config_api.reference_data import ISSUE_TYPES
from intake.config_api.routes.deps import PoolDep
from intake.config_api.routes.issues import attachment_response
from intake.config_api.routes.pagination import position_from

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
ISSUE_TYPE_NAMES = 200
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _issue_type_names(pool: PoolDep) -> dict[int, str]:
    rows, _more = await reference_data.list_page(pool, ISSUE_TYPES, None, ISSUE_TYPE_NAMES)
    return {row["id"]: row["name"] for row in rows}


def _unavailable(request: Request) -> Response:
    detail = (
        "The ingestor has not set up its issue tables in this database yet. Start intake-ingestor (make run"
        " starts every service) and reload this page."
    )
    return error_page(request, 503, "Issues are not available yet", detail)


@router.get("/issues")
async def issue_list(
    request: Request,
    _: SessionDep,
    pool: PoolDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    try:
        page = await issue_views.list_issues(pool, position_from(cursor), PAGE_SIZE)
    except TrackerUnavailable:
        return _unavailable(request)
    return render(
        request,
        "issues/list.html",
        {
            "issues": page.items,
            "issue_types": await _issue_type_names(pool),
            "next_url": f"/issues?{urlencode({'cursor': page.next_cursor})}" if page.next_cursor else None,
            "first_url": "/issues" if cursor else None,
        },
    )


@router.get("/issues/{number}")
async def issue_detail(request: Request, number: RowId, _: SessionDep, pool: PoolDep) -> Response:
    try:
        issue = await issue_views.get_issue(pool, number)
    except TrackerUnavailable:
        return _unavailable(request)
    inboxes = await inbox_addresses(pool, [issue.inbox_id] if issue.inbox_id is not None else [])
    return render(
        request,
        "issues/detail.html",
        {
            "issue": issue,
            "issue_type": (await _issue_type_names(pool)).get(issue.issue_type_id or 0),
            "inbox": inboxes.get(issue.inbox_id) if issue.inbox_id is not None else None,
            "log_rows": await message_sources.email_log_rows(pool, number),
            "html_views": {
                message_id: html_view(body)
                for message_id, body in (await message_sources.html_bodies(pool, number, MAX_READ_BYTES)).items()
            },
        },
    )


@router.get("/attachments/{attachment_id}")
async def attachment_download(attachment_id: RowId, _: SessionDep, pool: PoolDep) -> Response:
    """An attachment's bytes as a download with a safe file name; never rendered in the console's origin."""
    attachment, content = await issue_views.read_attachment(pool, attachment_id)
    return attachment_response(attachment, content)
