"""GET /api/v1/issues, /issues/{number} and /attachments/{id}: issues read from the ingestor's tracker views."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from intake.config_api import issue_views
from intake.config_api.downloads import content_disposition, safe_content_type
from intake.config_api.routes.deps import PoolDep
from intake.config_api.routes.pagination import DEFAULT_LIMIT, Cursor, Limit, position_from
from intake.config_api.schemas import Issue, IssueSummary, Page

router = APIRouter(tags=["issues"])

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"description": "the ingestor's tracker views are not there yet"}}


@router.get("/issues", responses=_UNAVAILABLE)
async def list_issues(pool: PoolDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Page[IssueSummary]:
    """Issues newest first, without their messages (GET /issues/{number} has them)."""
    return await issue_views.list_issues(pool, position_from(cursor), limit)


@router.get("/issues/{number}", responses=_UNAVAILABLE)
async def get_issue(number: Annotated[int, Path(ge=1, le=2**63 - 1)], pool: PoolDep) -> Issue:
    """The issue with its messages, oldest first, and their attachments."""
    return await issue_views.get_issue(pool, number)


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **_UNAVAILABLE},
)
async def download_attachment(attachment_id: Annotated[int, Path(ge=1, le=2**63 - 1)], pool: PoolDep) -> Response:
    """The attachment's bytes, always as a download (never rendered in the API's origin)."""
    attachment, content = await issue_views.read_attachment(pool, attachment_id)
    return attachment_response(attachment, content)


def attachment_response(attachment: issue_views.StoredAttachment, content: bytes) -> Response:
    """An attachment as a download, never rendered: `attachment` with a safe file name, nosniff, sandboxing CSP."""
    return Response(
        content=content,
        headers={
            "Content-Type": safe_content_type(attachment.content_type),
            "Content-Disposition": content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
