"""The email log: GET /api/v1/email-log (filtered, newest first), one row, its raw message, and reprocess."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AfterValidator

from intake.config_api import email_log
from intake.config_api.email_log_filters import EmailLogFilter, as_utc
from intake.config_api.email_log_rules import RawState
from intake.config_api.email_log_schemas import EmailLogDetail, EmailLogEntry, LogOutcome
from intake.config_api.routes.deps import PoolDep, RuntimeDep
from intake.config_api.routes.pagination import DEFAULT_LIMIT, Cursor, Limit, position_from
from intake.config_api.schemas import Page

router = APIRouter(prefix="/email-log", tags=["email log"])

EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# Converted to UTC while validating, so a time with no UTC equivalent is a 422 naming the parameter.
UtcTime = Annotated[datetime, AfterValidator(as_utc)]
RAW_STATE_HEADER = "X-Intake-Raw-State"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold U+0000

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such email log entry"}}


@router.get("")
async def list_email_log(
    pool: PoolDep,
    inbox_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    outcome: LogOutcome | None = None,
    since: Annotated[UtcTime | None, Query(description="fetched at or after (ISO 8601; naive = UTC)")] = None,
    until: Annotated[UtcTime | None, Query(description="fetched before (ISO 8601; naive = UTC)")] = None,
    sender: Annotated[
        str | None, Query(max_length=320, pattern=NO_NUL, description="part of the sender address")
    ] = None,
    q: Annotated[str | None, Query(max_length=500, pattern=NO_NUL, description="part of the subject")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[EmailLogEntry]:
    filters = EmailLogFilter(inbox_id=inbox_id, outcome=outcome, since=since, until=until, sender=sender, q=q)
    return await email_log.list_email_log(pool, filters, position_from(cursor), limit)


@router.get("/{entry_id}", responses=_NOT_FOUND)
async def get_email_log_entry(entry_id: EntryId, pool: PoolDep) -> EmailLogDetail:
    """One row with the header fields of the stored raw message, the issue, and whether it can be reprocessed."""
    return await email_log.get_email_log_entry(pool, entry_id)


@router.get(
    "/{entry_id}/raw",
    response_class=Response,
    responses={
        200: {
            "content": {"message/rfc822": {}},
            "description": f"the stored message as a download; `{RAW_STATE_HEADER}: header_only` when the fetcher"
            " rejected it as too large and only its header is stored",
        },
        **_NOT_FOUND,
    },
)
async def download_raw_message(entry_id: EntryId, pool: PoolDep) -> Response:
    """The raw message as fetched (message/rfc822), always as a download. For a message the fetcher rejected
    as too large only its header is stored: the file is named `…-header-only.eml` and `X-Intake-Raw-State`
    says `header_only`."""
    return raw_message_response(await email_log.read_raw_message(pool, entry_id))


def raw_message_response(raw: email_log.RawMessage) -> Response:
    """A stored raw message as a download, never rendered: `attachment`, nosniff, and a sandboxing CSP."""
    suffix = "-header-only" if raw.state is RawState.HEADER_ONLY else ""
    return Response(
        content=raw.content,
        headers={
            "Content-Type": "message/rfc822",
            "Content-Disposition": f'attachment; filename="email-log-{raw.entry_id}{suffix}.eml"',
            RAW_STATE_HEADER: raw.state.value,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.post(
    "/{entry_id}/reprocess",
    responses={
        **_NOT_FOUND,
        409: {"description": "the outcome is not failed, rejected or skipped, or the raw message is not stored"},
        503: {"description": "RabbitMQ did not take the message; nothing changed"},
    },
)
async def reprocess(entry_id: EntryId, runtime: RuntimeDep) -> EmailLogEntry:
    """Process a `failed`, `rejected` or skipped (`ignored_sender`, `unmatched_ignored`, `auto_generated`)
    message again: the row is `pending` again (attempts kept) until the ingestor decides anew."""
    return await email_log.reprocess(runtime.pool, runtime.publisher, entry_id)
