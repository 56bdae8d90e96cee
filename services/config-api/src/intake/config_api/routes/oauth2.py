"""The OAuth2 Connect flow over HTTP: GET /api/v1/inboxes/{id}/oauth2/authorize (bearer token) and
GET /api/v1/oauth2/callback (no bearer token: the single-use state authenticates it).

The callback answers a small HTML page to a browser and JSON to anything else, saying it worked or why not.
"""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from intake.config_api.oauth2_connect import ConnectFailed
from intake.config_api.routes.deps import RuntimeDep

# Behind the API's bearer token.
router = APIRouter(tags=["oauth2"])
# Not behind the bearer token: the provider sends the person's browser here.
callback_router = APIRouter(tags=["oauth2"])


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@router.get(
    "/inboxes/{inbox_id}/oauth2/authorize",
    status_code=302,
    responses={
        302: {"description": "redirect to the provider's consent page"},
        200: {"description": 'with `Accept: application/json`: `{"authorize_url": ...}` instead of a redirect'},
        404: {"description": "no such inbox, or it does not log in with OAuth2 (gmail, outlook)"},
    },
)
async def authorize(
    inbox_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, runtime: RuntimeDep
) -> Response:
    """Start connecting the inbox: a redirect to the provider's consent page (state + PKCE, single use)."""
    url = await runtime.connect.begin(inbox_id)
    headers = {"Cache-Control": "no-store"}
    if _wants_json(request):
        return JSONResponse({"authorize_url": url}, headers=headers)
    return RedirectResponse(url, status_code=302, headers=headers)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>{refresh}</head>
<body><h1>{title}</h1><p>{detail}</p>{back}</body></html>
"""


def _console_url(body: dict[str, Any]) -> str | None:
    """The console's page of the inbox, with the result: where a person who pressed Connect goes back to.

    A page (a meta refresh), not a redirect: the console's SameSite=Strict session cookie is sent on a
    navigation this site starts, but not along a redirect chain the provider's site started.
    """
    inbox_id = body.get("inbox_id")
    if not isinstance(inbox_id, int):
        return None
    # Only a code crosses the URL (the console words it): free text in a link would let anyone put
    # words of their choosing on the console's page.
    result = {"oauth2": "connected"} if body.get("ok") else {"oauth2": "failed", "error": str(body.get("error"))}
    return f"/inboxes/{inbox_id}?{urlencode(result)}"


def _answer(request: Request, status: int, body: dict[str, Any], title: str) -> Response:
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if _wants_json(request):
        return JSONResponse(body, status_code=status, headers=headers)
    back_url = _console_url(body)
    refresh = back = ""
    if back_url is not None:
        refresh = f'<meta http-equiv="refresh" content="3; url={html.escape(back_url)}">'
        back = f'<p><a href="{html.escape(back_url)}">Back to the inbox in the Intake console</a></p>'
    page = _PAGE.format(title=html.escape(title), detail=html.escape(str(body["detail"])), refresh=refresh, back=back)
    headers["Content-Security-Policy"] = "default-src 'none'"
    return HTMLResponse(page, status_code=status, headers=headers)


@callback_router.get(
    "/oauth2/callback",
    responses={
        400: {"description": "bad, expired or reused state, or the person declined"},
        502: {"description": "the provider refused or failed the code exchange"},
    },
)
async def callback(
    request: Request,
    runtime: RuntimeDep,
    state: Annotated[str | None, Query(max_length=512)] = None,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """Where the provider sends the browser back: store the grant and say whether the inbox is connected."""
    try:
        inbox_id = await runtime.connect.complete(
            state=state, code=code, error=error, error_description=error_description
        )
    except ConnectFailed as failed:
        body = {"ok": False, "error": failed.error, "detail": failed.detail, "inbox_id": failed.inbox_id}
        return _answer(request, failed.status, body, "The inbox was not connected")
    detail = f"Inbox {inbox_id} is connected; Intake will fetch its mail with the new authorisation."
    return _answer(request, 200, {"ok": True, "inbox_id": inbox_id, "detail": detail}, "Inbox connected")
