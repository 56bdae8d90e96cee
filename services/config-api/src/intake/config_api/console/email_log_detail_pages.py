"""One email log row as a page: the timeline fetched → processed → mailbox action, why (the reason in words),
the issue, the headers, the raw message as a download, and Reprocess.

The raw message is only ever a download (`Content-Disposition: attachment`, sandboxed), never shown inline.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from intake.config_api import email_log
from intake.config_api.console.access import FormDep, SessionDep
from intake.config_api.console.email_log_rows import inbox_addresses
from intake.config_api.console.labels import outcome_label
from intake.config_api.console.rendering import redirect, render
from intake.config_api.email_log_story import STEP_STATE_WORDS, LoggedRow, StepState, timeline, why
from intake.config_api.errors import BusUnavailable, Conflict
from intake.config_api.mailbox_actions import mailbox_record
from intake.config_api.routes.deps import PoolDep, RuntimeDep
from intake.config_api.routes.email_log import raw_message_response

router = APIRouter(include_in_schema=False)

# The icon of each timeline state (partials/icons.html), always beside its word.
STATE_BADGES = {
    StepState.DONE: "ok",
    StepState.FAILED: "error",
    StepState.WAITING: "unknown",
    StepState.SKIPPED: "disabled",
    StepState.NOT_RECORDED: "unknown",
}
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _detail_page(
    request: Request, pool: PoolDep, entry_id: int, problem: str | None, status_code: int
) -> Response:
    detail = await email_log.get_email_log_entry(pool, entry_id)
    record, readable = await mailbox_record(pool, detail.inbox_id, detail.uidvalidity, detail.uid)
    row = LoggedRow(
        fetched_at=detail.fetched_at,
        processed_at=detail.processed_at,
        outcome=detail.outcome.value,
        fetch_rejected=detail.fetch_rejected,
        reprocessed_at=detail.reprocessed_at,
        reprocessed_from=detail.reprocessed_from.value if detail.reprocessed_from else None,
    )
    inboxes = await inbox_addresses(pool, [detail.inbox_id])
    return render(
        request,
        "email_log/detail.html",
        {
            "entry": detail,
            "inbox": inboxes.get(detail.inbox_id),
            "why": why(detail.outcome.value),
            "steps": timeline(row, record, readable, outcome_label),
            "state_words": STEP_STATE_WORDS,
            "state_badges": STATE_BADGES,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.get("/email-log/{entry_id}")
async def email_log_detail(request: Request, entry_id: EntryId, _: SessionDep, pool: PoolDep) -> Response:
    return await _detail_page(request, pool, entry_id, None, 200)


@router.get("/email-log/{entry_id}/raw")
async def email_log_raw(entry_id: EntryId, _: SessionDep, pool: PoolDep) -> Response:
    """The stored message as fetched, as a download (message/rfc822)."""
    return raw_message_response(await email_log.read_raw_message(pool, entry_id))


@router.post("/email-log/{entry_id}/reprocess")
async def email_log_reprocess(request: Request, entry_id: EntryId, _: FormDep, runtime: RuntimeDep) -> Response:
    try:
        await email_log.reprocess(runtime.pool, runtime.publisher, entry_id)
    except Conflict as refusal:
        return await _detail_page(request, runtime.pool, entry_id, f"It was not reprocessed: {refusal}.", 409)
    except BusUnavailable as unavailable:
        return await _detail_page(request, runtime.pool, entry_id, f"It was not reprocessed: {unavailable}.", 503)
    return redirect(
        request,
        f"/email-log/{entry_id}",
        "Reprocessing requested: the message is pending again until the ingestor decides.",
    )
