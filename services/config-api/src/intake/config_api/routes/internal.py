"""POST /internal/v1/inboxes/{id}/access-token: short-lived OAuth2 access tokens for the fetcher.

Protected by `INTAKE_SERVICE_TOKEN` (not the admin token). Answers (a fixed contract):
200 `{access_token, expires_at, username}`; 409 `{"error": "needs_reauth", "detail"}`; 404 unknown inbox or
not OAuth2; 401 wrong service token; 503 provider unreachable. Refresh tokens and client secrets never leave.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from intake.config_api.auth import token_matches
from intake.config_api.errors import NotFound
from intake.config_api.oauth2_tokens import NeedsReauth, ProviderUnavailable
from intake.config_api.routes.deps import RuntimeDep
from intake.shared.secrets import SecretDecryptionError

log = structlog.get_logger(__name__)

INTERNAL_PREFIX = "/internal/v1"

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <INTAKE_SERVICE_TOKEN>`")

router = APIRouter(prefix=INTERNAL_PREFIX, tags=["internal"])


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


@router.post(
    "/inboxes/{inbox_id}/access-token",
    responses={
        401: {"description": "missing or wrong service token"},
        404: {"description": "unknown inbox, or it does not log in with OAuth2"},
        409: {"description": "the inbox needs to be connected again (`needs_reauth`)"},
        503: {"description": "the identity provider could not be reached"},
    },
)
async def access_token(
    inbox_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> JSONResponse:
    """An access token for logging in to the inbox's mailbox with XOAUTH2, valid until `expires_at`."""
    if not token_matches(credentials.credentials if credentials else None, runtime.service_token):
        return _error(401, "unauthorized", "a valid service token is required", {"WWW-Authenticate": "Bearer"})
    no_store = {"Cache-Control": "no-store"}
    try:
        token = await runtime.tokens.access_token(inbox_id)
    except NotFound as error:
        return _error(404, "not_found", str(error))
    except NeedsReauth as error:
        return _error(409, "needs_reauth", str(error))
    except ProviderUnavailable as error:
        return _error(503, "provider_unavailable", str(error))
    except SecretDecryptionError as error:
        log.error("oauth2 secrets unreadable", inbox_id=inbox_id)
        return _error(500, "secret_unreadable", str(error))
    body = {
        "access_token": token.access_token,
        "expires_at": token.expires_at.isoformat(),
        "username": token.username,
    }
    return JSONResponse(body, headers=no_store)
