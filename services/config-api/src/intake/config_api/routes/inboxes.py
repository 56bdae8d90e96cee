"""GET/POST /api/v1/inboxes and GET /api/v1/inboxes/{id}: inbox settings, secrets write-only."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, status
from pydantic import SecretStr

from intake.config_api import repository
from intake.config_api.errors import InvalidFields
from intake.config_api.inboxes import InboxCreate, resolve_inbox
from intake.config_api.routes.deps import PoolDep, RuntimeDep
from intake.config_api.schemas import Inbox
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/inboxes", tags=["inboxes"])


def _encrypted(box: SecretBox, secret: SecretStr | None) -> bytes | None:
    return None if secret is None else box.encrypt(secret.get_secret_value())


@router.get("")
async def list_inboxes(pool: PoolDep) -> list[Inbox]:
    return await repository.list_inboxes(pool)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_inbox(body: InboxCreate, runtime: RuntimeDep) -> Inbox:
    """Create an inbox. Not supported yet: `encryption: tls` (STARTTLS) and `auth: oauth2` (422)."""
    resolved = resolve_inbox(body)
    if isinstance(resolved, list):
        raise InvalidFields(resolved)
    inbox = await repository.create_inbox(
        runtime.pool,
        resolved,
        password_encrypted=_encrypted(runtime.secret_box, resolved.password),
        client_secret_encrypted=_encrypted(runtime.secret_box, resolved.oauth2_client_secret),
    )
    log.info("inbox created", inbox_id=inbox.id, provider=inbox.provider.value, active=inbox.active)
    return inbox


@router.get("/{inbox_id}")
async def get_inbox(inbox_id: Annotated[int, Path(ge=1)], pool: PoolDep) -> Inbox:
    return await repository.get_inbox(pool, inbox_id)
