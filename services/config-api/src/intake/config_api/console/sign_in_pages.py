"""Signing in and out of the console: GET/POST /sign-in, POST /sign-out, and / (to the inbox list).

The token is pasted once and checked like a bearer token (the admin token or a live issued API token);
the browser then holds only a signed random session id (HttpOnly, SameSite=Strict, Secure over https,
expiring), never the token. The sign-in form is itself protected by a nonce cookie against login CSRF.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from intake.config_api.console import sessions
from intake.config_api.console.access import FormDep, console_config
from intake.config_api.console.forms import read_form
from intake.config_api.console.rendering import cookie_secure, redirect, render
from intake.config_api.console.session_cookies import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    safe_next,
    session_id_from,
    sign_in_nonce,
    sign_in_nonce_ok,
)
from intake.config_api.routes.deps import RuntimeDep

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

MAX_TOKEN_LENGTH = 512


def _sign_in_form(request: Request, next_url: str, error: str | None = None, status_code: int = 200) -> Response:
    config = console_config(request)
    cookie, field = sign_in_nonce(config.key)
    response = render(
        request, "sign_in.html", {"next": safe_next(next_url), "nonce": field, "error": error}, status_code
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        cookie,
        max_age=3600,
        path="/sign-in",
        secure=cookie_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/inboxes", status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    return _sign_in_form(request, safe_next(next))


@router.post("/sign-in")
async def sign_in(request: Request, runtime: RuntimeDep) -> Response:
    config = console_config(request)
    form = await read_form(request)
    next_url = safe_next(form.get("next"))
    if not sign_in_nonce_ok(config.key, request.cookies.get(SIGN_IN_COOKIE), form.get("nonce") or None):
        return _sign_in_form(request, next_url, "The sign-in form had expired. Paste the token again and sign in.", 400)
    token = form.get("token").strip()
    if not token:
        return _sign_in_form(request, next_url, "Paste the admin token or an API token.", 400)
    session = None
    if len(token) <= MAX_TOKEN_LENGTH:
        session = await sessions.sign_in(runtime.pool, config.key, config.admin_token, token, config.session_minutes)
    if session is None:
        log.warning("console sign-in refused")
        return _sign_in_form(request, next_url, "That token is not valid: it is mistyped, or it has been revoked.", 401)
    log.info("console sign-in")
    response = RedirectResponse(next_url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie,
        max_age=config.session_minutes * 60,
        path="/",
        secure=cookie_secure(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in", secure=cookie_secure(request), httponly=True)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, runtime: RuntimeDep, _: FormDep) -> Response:
    config = console_config(request)
    session_id = session_id_from(config.key, request.cookies.get(SESSION_COOKIE))
    if session_id is not None:
        await sessions.sign_out(runtime.pool, session_id)
    log.info("console sign-out")
    response = redirect(request, "/sign-in", "You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=cookie_secure(request), httponly=True, samesite="strict")
    return response
