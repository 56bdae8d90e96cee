"""System → Email log (DESIGN §1): the filtered table with cursor pages, and the bulk reprocess of the failed
rows of a filter (a confirmation page with the count, then one bounded run).

The filter is a GET form, so every view is a bookmarkable URL; the page works without JavaScript, and
`live_log.js` adds the live mode (`email_log_live`). The detail page is in `email_log_detail_pages`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from intake.config_api import email_log, email_log_bulk
from intake.config_api.console.access import FormDep, SessionDep
from intake.config_api.console.email_log_filter_form import FIELDS, FilterForm, filter_query, read_filter_form
from intake.config_api.console.email_log_rows import inbox_addresses
from intake.config_api.console.rendering import redirect, render
from intake.config_api.email_log_changes import database_now
from intake.config_api.email_log_schemas import EmailLogEntry, LogOutcome
from intake.config_api.live_changes import encode_mark
from intake.config_api.routes.deps import PoolDep, RuntimeDep

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
INBOX_CHOICES = 200  # the inbox picker lists this many; more are still reachable by a link's inbox_id


async def _inbox_choices(pool: PoolDep) -> list[tuple[int, str]]:
    rows = await pool.fetch("SELECT id, email FROM config.inboxes ORDER BY lower(email), id LIMIT $1", INBOX_CHOICES)
    return [(row["id"], row["email"]) for row in rows]


def _bulk_url(form: FilterForm, rows: list[EmailLogEntry]) -> str | None:
    """The confirmation page of 'reprocess the failed rows of this view' (which counts them), offered when the
    view is of failed rows or this page shows one: no count query on every view of the log."""
    if form.filters.outcome is not LogOutcome.FAILED and not any(row.outcome is LogOutcome.FAILED for row in rows):
        return None
    query = filter_query(form.values)
    return "/email-log/reprocess-failed" + (f"?{query}" if query else "")


@router.get("/email-log")
async def email_log_page(request: Request, _: SessionDep, pool: PoolDep) -> Response:
    form = read_filter_form(request.query_params)
    choices = await _inbox_choices(pool)
    context: dict[str, object] = {
        "form": form,
        "inbox_choices": choices,
        "outcomes": [outcome.value for outcome in LogOutcome],
        "clear_url": "/email-log",
    }
    if form.errors:
        return render(request, "email_log/list.html", {**context, "rows": None}, status_code=400)
    page = await email_log.list_email_log(pool, form.filters, form.cursor, PAGE_SIZE)
    addresses = dict(choices) | await inbox_addresses(
        pool, (row.inbox_id for row in page.items if row.inbox_id not in dict(choices))
    )
    query = filter_query(form.values)
    live = form.cursor is None
    return render(
        request,
        "email_log/list.html",
        {
            **context,
            "rows": page.items,
            "inboxes": addresses,
            "next_url": "/email-log?" + filter_query(form.values, cursor=page.next_cursor)
            if page.next_cursor
            else None,
            "first_url": ("/email-log" + (f"?{query}" if query else "")) if form.cursor else None,
            "live_url": ("/email-log/live" + (f"?{query}" if query else "")) if live else None,
            "live_since": encode_mark(await database_now(pool)) if live else None,
            "bulk_url": _bulk_url(form, page.items),
        },
    )


@router.get("/email-log/reprocess-failed")
async def confirm_bulk_reprocess(request: Request, _: SessionDep, pool: PoolDep) -> Response:
    """How many failed rows the view has, and a button to reprocess them (at most MAX_BULK_REPROCESS at once)."""
    form = read_filter_form(request.query_params)
    if form.errors:
        return redirect(request, "/email-log?" + filter_query(form.values))
    count = await email_log_bulk.count_failed(pool, form.filters)
    query = filter_query(form.values)
    return render(
        request,
        "email_log/confirm_bulk.html",
        {
            "form": form,
            "count": count,
            "limit": email_log_bulk.MAX_BULK_REPROCESS,
            "hidden": [(name, form.values[name]) for name in FIELDS if form.values.get(name)],
            "back_url": "/email-log" + (f"?{query}" if query else ""),
            "inboxes": dict(await _inbox_choices(pool)),
        },
    )


def bulk_message(result: email_log_bulk.BulkReprocessResult) -> str:
    """What a bulk reprocess did, in one paragraph.

    >>> result = email_log_bulk.BulkReprocessResult(2, {"the raw message is missing": 1}, 1)
    >>> print(bulk_message(result))  # doctest: +NORMALIZE_WHITESPACE
    Queued 2 failed messages for reprocessing. 1 could not be: the raw message is missing (1). 1 failed message is
    left in this view.
    """
    plural = "" if result.queued == 1 else "s"
    parts = [f"Queued {result.queued} failed message{plural} for reprocessing."]
    if result.refused:
        reasons = "; ".join(f"{reason} ({n})" for reason, n in sorted(result.refused.items()))
        parts.append(f"{result.refused_total} could not be: {reasons}.")
    if result.bus_unavailable:
        parts.append("The message bus stopped taking messages, so the run stopped there; try again shortly.")
    if result.remaining:
        left = "message is" if result.remaining == 1 else "messages are"
        parts.append(f"{result.remaining} failed {left} left in this view.")
    return " ".join(parts)


@router.post("/email-log/reprocess-failed")
async def bulk_reprocess(request: Request, form_fields: FormDep, runtime: RuntimeDep) -> Response:
    form = read_filter_form({name: form_fields.get(name) for name in FIELDS})
    back = "/email-log?" + filter_query(form.values)
    if form.errors:
        return redirect(request, back)
    result = await email_log_bulk.bulk_reprocess(runtime.pool, runtime.publisher, form.filters)
    return redirect(request, back, bulk_message(result))
