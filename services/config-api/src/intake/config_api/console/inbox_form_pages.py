"""Configuration → Inboxes, create and edit (DESIGN §1): the form with every field, Test connection on the
form's values, and saving through the API's own route functions, so the form and the API share every rule.

A form that fails comes back with each error beside its field and a summary at the top; secrets are
never put back into the page (the person types them again, and is told so).
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from intake.config_api import inbox_repository, reference_data
from intake.config_api.console import inbox_form, inbox_form_errors
from intake.config_api.console.access import FormDep, SessionDep
from intake.config_api.console.forms import Form
from intake.config_api.console.inbox_form import FormFields, Submission
from intake.config_api.console.inbox_testing import test_edited_inbox
from intake.config_api.console.labels import connect_failure, connection_stages
from intake.config_api.console.rendering import redirect, render
from intake.config_api.errors import InvalidFields
from intake.config_api.inbox_requests import InboxPatch
from intake.config_api.languages import LANGUAGES
from intake.config_api.providers import DISPLAY_NAMES, PRESETS, Provider
from intake.config_api.reference_data import ISSUE_TYPES, ORGANISATIONS, USERS
from intake.config_api.routes import connection_test as test_routes
from intake.config_api.routes import inboxes as inbox_routes
from intake.config_api.routes.deps import PoolDep, RuntimeDep
from intake.config_api.schemas import ConnectionTestResult, Inbox

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

InboxId = Annotated[int, Path(ge=1, le=2**63 - 1)]
REFERENCE_LIMIT = 200
FRAGMENT_HEADER = "x-intake-fragment"  # console.js asks for the test result alone


async def _choices(pool: Any) -> dict[str, Any]:
    """The pickers: providers with their presets, reference data and languages."""
    lists = {}
    for name, kind in (("issue_types", ISSUE_TYPES), ("users", USERS), ("organisations", ORGANISATIONS)):
        rows, _ = await reference_data.list_page(pool, kind, None, REFERENCE_LIMIT)
        lists[name] = [(row["id"], row["name"] + (f" <{row['email']}>" if row.get("email") else "")) for row in rows]
    providers = [
        {"value": provider.value, "name": DISPLAY_NAMES[provider], "preset": PRESETS.get(provider)}
        for provider in Provider
    ]
    languages = sorted(((code, f"{name} ({code})") for code, name in LANGUAGES.items()), key=lambda item: item[1])
    return {**lists, "providers": providers, "languages": languages}


def _typed_fields(form: Form) -> FormFields:
    """The inbox fields the form sent (absent ones stay absent: a PATCH leaves them as they are)."""
    return FormFields({name: form.get(name) for name in _FIELD_NAMES if name in form})


def _test_view(result: ConnectionTestResult, encryption: str) -> dict[str, Any]:
    return {"ok": result.ok, "detail": result.detail, "stages": connection_stages(result.ok, result.stage, encryption)}


async def _form_page(
    request: Request,
    pool: Any,
    *,
    inbox: Inbox | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    test: dict[str, Any] | None = None,
    secrets_dropped: bool = False,
    status_code: int = 200,
) -> Response:
    if test is not None and request.headers.get(FRAGMENT_HEADER) == "test-result":
        return render(request, "inboxes/test_result.html", {"test": test}, status_code)
    errors = errors or {}
    context = {
        "inbox": inbox,
        "values": inbox_form.with_preset(values),
        "errors": errors,
        "summary": inbox_form_errors.summary(errors),
        "test": test,
        "secrets_dropped": secrets_dropped,
        "oauth2_result": request.query_params.get("oauth2"),
        "oauth2_failure": connect_failure(request.query_params.get("error")),
        **await _choices(pool),
    }
    return render(request, "inboxes/form.html", context, status_code)


def _typed_secret(form: FormFields) -> bool:
    return any(form.get(name) for name in inbox_form.SECRETS)


@router.get("/inboxes/new")
async def new_inbox(request: Request, _: SessionDep, pool: PoolDep) -> Response:
    first_type, _more = await reference_data.list_page(pool, ISSUE_TYPES, None, 1)
    values = inbox_form.defaults(first_type[0]["id"] if first_type else None)
    return await _form_page(request, pool, inbox=None, values=values)


@router.post("/inboxes/new")
async def create_inbox(request: Request, form: FormDep, runtime: RuntimeDep) -> Response:
    fields = _typed_fields(form)
    sub = inbox_form.submission(fields, editing=False)
    body = inbox_form_errors.create_request(sub)
    testing = form.get("action") == "test"
    if body is not None:
        try:
            if testing:
                result = await test_routes.test_unsaved_inbox(body, runtime)
                test = _test_view(result, body.encryption.value if body.encryption else sub.values["encryption"])
                return await _tested(request, runtime.pool, None, sub, fields, test)
            inbox = await inbox_routes.create_inbox(body, runtime)
            return redirect(request, f"/inboxes/{inbox.id}", f"Inbox {inbox.email} created.")
        except InvalidFields as invalid:
            sub.errors.update(inbox_form_errors.rule_errors(invalid.errors, sub))
    return await _refused(request, runtime.pool, None, sub, fields)


async def _tested(
    request: Request, pool: Any, inbox: Inbox | None, sub: Submission, fields: FormFields, test: dict[str, Any]
) -> Response:
    """The form again, as typed, with a connection test's result (typed secrets are not echoed back)."""
    return await _form_page(
        request, pool, inbox=inbox, values=sub.values, test=test, secrets_dropped=_typed_secret(fields)
    )


async def _refused(request: Request, pool: Any, inbox: Inbox | None, sub: Submission, fields: FormFields) -> Response:
    log.info("console inbox form refused", inbox_id=inbox.id if inbox else None, fields=sorted(sub.errors))
    return await _form_page(
        request,
        pool,
        inbox=inbox,
        values=sub.values,
        errors=sub.errors,
        secrets_dropped=_typed_secret(fields),
        status_code=422,
    )


@router.get("/inboxes/{inbox_id}")
async def edit_inbox(request: Request, inbox_id: InboxId, _: SessionDep, pool: PoolDep) -> Response:
    inbox = await inbox_repository.get_inbox(pool, inbox_id)
    return await _form_page(request, pool, inbox=inbox, values=inbox_form.values_of(inbox))


@router.post("/inboxes/{inbox_id}")
async def update_inbox(request: Request, inbox_id: InboxId, form: FormDep, runtime: RuntimeDep) -> Response:
    inbox = await inbox_repository.get_inbox(runtime.pool, inbox_id)
    fields = _typed_fields(form)
    sub = inbox_form.submission(fields, editing=True)
    body = inbox_form_errors.patch_request(sub)
    if body is None:
        more = await inbox_routes.patch_rule_errors(runtime.pool, inbox_id, sub.body, sub.shape_errors)
        inbox_form_errors.add_rule_errors(more, sub)
    else:
        try:
            if form.get("action") == "test":
                result = await test_edited_inbox(runtime, inbox_id, body)
                if isinstance(result, list):
                    raise InvalidFields(result)
                test = _test_view(result, inbox_form.with_preset(sub.values)["encryption"])
                return await _tested(request, runtime.pool, inbox, sub, fields, test)
            saved = await inbox_routes.update_inbox(inbox_id, body, runtime)
            return redirect(request, f"/inboxes/{inbox_id}", f"Inbox {saved.email} saved.")
        except InvalidFields as invalid:
            sub.errors.update(inbox_form_errors.rule_errors(invalid.errors, sub))
    return await _refused(request, runtime.pool, inbox, sub, fields)


@router.post("/inboxes/{inbox_id}/active")
async def set_active(request: Request, inbox_id: InboxId, form: FormDep, runtime: RuntimeDep) -> Response:
    active = form.get("active") == "1"
    saved = await inbox_routes.update_inbox(inbox_id, InboxPatch(active=active), runtime)
    words = "activated: Intake watches it again" if active else "deactivated: Intake no longer fetches its mail"
    return redirect(
        request,
        form.get("back") if form.get("back") == "/inboxes" else f"/inboxes/{inbox_id}",
        f"Inbox {saved.email} {words}.",
    )


@router.get("/inboxes/{inbox_id}/delete")
async def confirm_delete(request: Request, inbox_id: InboxId, _: SessionDep, pool: PoolDep) -> Response:
    inbox = await inbox_repository.get_inbox(pool, inbox_id)
    rows = await pool.fetchval("SELECT count(*) FROM config.email_log WHERE inbox_id = $1", inbox_id)
    return render(request, "inboxes/delete.html", {"inbox": inbox, "log_rows": rows})


@router.post("/inboxes/{inbox_id}/delete")
async def delete_inbox(request: Request, inbox_id: InboxId, _: FormDep, runtime: RuntimeDep) -> Response:
    inbox = await inbox_repository.get_inbox(runtime.pool, inbox_id)
    await inbox_routes.delete_inbox(inbox_id, runtime)
    return redirect(request, "/inboxes", f"Inbox {inbox.email} deleted. Its email log rows are kept.")


@router.get("/inboxes/{inbox_id}/connect")
async def connect(request: Request, inbox_id: InboxId, _: SessionDep, runtime: RuntimeDep) -> Response:
    """Start the OAuth2 consent: to the provider, which sends the browser back to the callback, then here."""
    url = await runtime.connect.begin(inbox_id)
    log.info("console oauth2 connect started", inbox_id=inbox_id)
    return Response(status_code=303, headers={"Location": url, "Cache-Control": "no-store"})


_FIELD_NAMES = (
    *inbox_form.LABELS,
    *inbox_form.SECRETS,
    "password_clear",
    "oauth2_client_secret_clear",
)
