"""GET/POST /api/v1/inboxes and GET/PATCH/DELETE /api/v1/inboxes/{id}: inbox settings, secrets write-only.

Every change is committed first, then announced with `inbox.changed` so the owning fetcher re-reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from intake.config_api import inbox_repository
from intake.config_api.errors import FieldError, InvalidFields, NotFound
from intake.config_api.inbox_events import publish_inbox_changed
from intake.config_api.inbox_every_error import beyond_shape, patch_of_the_rest, rule_errors_beyond_shape, wrong_fields
from intake.config_api.inbox_requests import InboxCreate, InboxPatch
from intake.config_api.inbox_resolution import SecretChange, Unchanged, resolve_create, resolve_patch
from intake.config_api.routes.deps import PoolDep, RuntimeDep, get_runtime
from intake.config_api.routes.pagination import DEFAULT_LIMIT, Cursor, Limit, position_from
from intake.config_api.schemas import Inbox, Page
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)


class _EveryError(APIRoute):
    """A create or change refused for its shape also names the cross-field rules' errors of the fields that
    parsed, so a client sees every wrong field at once (the 422 body is the same list of field errors)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        endpoint = self.endpoint  # compared when called: the route is built before its function has a name

        async def handle_with_every_error(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as refused:
                shape = list(refused.errors())
                more = [error.as_json() for error in await _rule_errors(endpoint, request, refused.body, shape)]
                if not more:
                    raise
                raise RequestValidationError([*shape, *more], body=refused.body) from None

        return handle_with_every_error


async def _rule_errors(endpoint: Any, request: Request, body: Any, shape: list[Any]) -> list[FieldError]:
    if any(tuple(error.get("loc", ()))[:1] != ("body",) for error in shape):
        return []  # a wrong path or query: no inbox to check the rules on
    if endpoint is create_inbox:
        return rule_errors_beyond_shape(body, shape)
    if endpoint is update_inbox:
        return await patch_rule_errors(get_runtime(request).pool, int(request.path_params["inbox_id"]), body, shape)
    return []


async def patch_rule_errors(
    pool: Any, inbox_id: int, body: Any, shape: Sequence[Mapping[str, Any]]
) -> list[FieldError]:
    """The cross-field rules' errors of a PATCH refused for its shape, for the fields that parsed, checked on
    the stored inbox (nothing is saved); the console's edit form uses it too."""
    rest = patch_of_the_rest(body, shape)
    wrong = wrong_fields(shape)
    if rest is None or wrong is None:
        return []
    try:
        async with pool.acquire() as conn, conn.transaction():
            stored = await inbox_repository.load_for_update(conn, inbox_id)
    except NotFound:
        return []  # the 422 stays: the body is wrong whatever the id
    resolved = resolve_patch(stored, rest)
    return beyond_shape(resolved, wrong) if isinstance(resolved, list) else []


router = APIRouter(prefix="/inboxes", tags=["inboxes"], route_class=_EveryError)

InboxId = Annotated[int, Path(ge=1, le=2**63 - 1)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no inbox with this id"}}


def _encrypted(box: SecretBox, change: SecretChange) -> inbox_repository.EncryptedChange:
    if isinstance(change, Unchanged) or change is None:
        return change
    return box.encrypt(change.get_secret_value())


@router.get("")
async def list_inboxes(pool: PoolDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Page[Inbox]:
    """Inboxes oldest first, each with its health (`status`)."""
    return await inbox_repository.list_inboxes(pool, position_from(cursor), limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_inbox(body: InboxCreate, runtime: RuntimeDep) -> Inbox:
    """Create an inbox. A named provider fixes hostname, port and encryption; `custom` needs them."""
    resolved = resolve_create(body)
    if isinstance(resolved, list):
        raise InvalidFields(resolved)
    password = _encrypted(runtime.secret_box, resolved.password)
    client_secret = _encrypted(runtime.secret_box, resolved.client_secret)
    # A create has nothing to keep.
    assert not isinstance(password, Unchanged)
    assert not isinstance(client_secret, Unchanged)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await inbox_repository.check_references(conn, resolved.settings)
        inbox_id = await inbox_repository.create_inbox(
            conn, resolved.settings, password=password, client_secret=client_secret
        )
    await publish_inbox_changed(runtime.publisher, inbox_id)
    inbox = await inbox_repository.get_inbox(runtime.pool, inbox_id)
    log.info("inbox created", inbox_id=inbox_id, provider=inbox.provider.value, active=inbox.active)
    return inbox


@router.get("/{inbox_id}", responses=_NOT_FOUND)
async def get_inbox(inbox_id: InboxId, pool: PoolDep) -> Inbox:
    return await inbox_repository.get_inbox(pool, inbox_id)


@router.patch("/{inbox_id}", responses=_NOT_FOUND)
async def update_inbox(inbox_id: InboxId, body: InboxPatch, runtime: RuntimeDep) -> Inbox:
    """Change the fields sent. A secret left out stays; a secret sent as null is cleared.

    Changing the server (provider, hostname, port, encryption, ca_certificate, username) of an inbox
    with a stored password needs the password again in the same request; changing the OAuth2 client
    (provider, client_id, tenant_id) needs a stored client secret again. Either change drops a
    connected OAuth2 grant: connect the inbox again.
    """
    async with runtime.pool.acquire() as conn, conn.transaction():
        stored = await inbox_repository.load_for_update(conn, inbox_id)
        resolved = resolve_patch(stored, body)
        if isinstance(resolved, list):
            raise InvalidFields(resolved)
        await inbox_repository.check_references(conn, resolved.settings)
        await inbox_repository.update_inbox(
            conn,
            inbox_id,
            resolved.settings,
            password=_encrypted(runtime.secret_box, resolved.password),
            client_secret=_encrypted(runtime.secret_box, resolved.client_secret),
            drop_refresh_token=resolved.drop_refresh_token,
        )
    await publish_inbox_changed(runtime.publisher, inbox_id)
    log.info(
        "inbox updated",
        inbox_id=inbox_id,
        fields=sorted(body.model_fields_set),
        oauth2_grant_dropped=resolved.drop_refresh_token,
    )
    return await inbox_repository.get_inbox(runtime.pool, inbox_id)


@router.delete("/{inbox_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_inbox(inbox_id: InboxId, runtime: RuntimeDep) -> Response:
    """Delete the inbox and its health; its email log rows are kept (they name the inbox by id)."""
    await inbox_repository.delete_inbox(runtime.pool, inbox_id)
    await publish_inbox_changed(runtime.publisher, inbox_id)
    log.info("inbox deleted", inbox_id=inbox_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
