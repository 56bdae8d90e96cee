"""POST /api/v1/inboxes/{id}/test and POST /api/v1/inboxes/test: the Test connection action → {ok, stage, detail}."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path
from pydantic import SecretStr

from intake.config_api.connection_diagnosis import Diagnosis
from intake.config_api.connection_test import (
    ConnectionTarget,
    Login,
    fixed_login,
    no_login,
    run_connection_test,
    saved_target,
)
from intake.config_api.errors import InvalidFields
from intake.config_api.inbox_requests import InboxCreate
from intake.config_api.inbox_resolution import resolve_create
from intake.config_api.inbox_settings import AuthMethod
from intake.config_api.routes.deps import RuntimeDep
from intake.config_api.schemas import ConnectionTestResult
from intake.shared.imap_client import ImapEndpoint, PasswordLogin
from intake.shared.inbox_vocabulary import Encryption

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/inboxes", tags=["inboxes"])

UNSAVED_OAUTH2 = (
    "an unsaved OAuth2 inbox cannot sign in: save it and connect it with OAuth2 first, then test it;"
    " the connection and TLS steps passed"
)


def _result(diagnosis: Diagnosis) -> ConnectionTestResult:
    return ConnectionTestResult(ok=diagnosis.ok, stage=diagnosis.stage, detail=diagnosis.detail)


@router.post("/test")
async def test_unsaved_inbox(body: InboxCreate, runtime: RuntimeDep) -> ConnectionTestResult:
    """Try settings before saving them (the body of POST /api/v1/inboxes): connect → TLS → login → select folder.

    `ok` false names the failing `stage` and says why in `detail`. Nothing is stored."""
    resolved = resolve_create(body)
    if isinstance(resolved, list):
        raise InvalidFields(resolved)
    inbox = resolved.settings
    login: Login = no_login(UNSAVED_OAUTH2)
    if inbox.auth is AuthMethod.PASSWORD and isinstance(resolved.password, SecretStr):
        login = fixed_login(PasswordLogin(inbox.username, resolved.password.get_secret_value()))
    target = ConnectionTarget(
        ImapEndpoint(inbox.hostname, inbox.port, Encryption(inbox.encryption.value), inbox.ca_certificate),
        inbox.username,
        inbox.directory,
        login,
    )
    diagnosis = await run_connection_test(target, runtime.connection_test_seconds)
    log.info("connection test", inbox_id=None, ok=diagnosis.ok, stage=diagnosis.stage.value, detail=diagnosis.detail)
    return _result(diagnosis)


@router.post("/{inbox_id}/test", responses={404: {"description": "no such inbox"}})
async def test_saved_inbox(
    inbox_id: Annotated[int, Path(ge=1, le=2**63 - 1)], runtime: RuntimeDep
) -> ConnectionTestResult:
    """Try a saved inbox's settings: connect → TLS → login → select folder.

    `ok` false names the failing `stage` and says why in `detail`."""
    target = await saved_target(runtime.pool, runtime.secret_box, runtime.tokens, inbox_id)
    diagnosis = await run_connection_test(target, runtime.connection_test_seconds)
    log.info(
        "connection test", inbox_id=inbox_id, ok=diagnosis.ok, stage=diagnosis.stage.value, detail=diagnosis.detail
    )
    return _result(diagnosis)
