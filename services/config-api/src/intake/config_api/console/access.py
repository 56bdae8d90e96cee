"""Who may use the console: the `require_session` dependency for pages, and `checked_form` (session + CSRF)
for every state-changing request.

A page without a live session raises `SignInRequired` (→ the sign-in page, then back); a form whose
`csrf_token` field (or `X-CSRF-Token` header, for scripts) is missing or wrong raises `CsrfRefused`
(→ 403, nothing changed). The handlers that turn them into responses are in `console.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from intake.config_api.console import sessions
from intake.config_api.console.forms import Form, read_form
from intake.config_api.console.session_cookies import SESSION_COOKIE, csrf_token, session_id_from, token_equal
from intake.config_api.console.sessions import ConsoleSession
from intake.config_api.routes.deps import RuntimeDep


@dataclass(frozen=True)
class ConsoleConfig:
    """The console's settings, built once from ConfigApiSettings in `create_app`."""

    key: bytes  # signs cookies and derives CSRF tokens (from INTAKE_SECRET_KEY)
    admin_token: str
    session_minutes: int
    trust_forwarded_proto: bool


class SignInRequired(Exception):
    """No live session: `next` is where to return after signing in."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in required")
        self.next_url = next_url


class CsrfRefused(Exception):
    """A state-changing request without this session's CSRF token."""


def console_config(request: Request) -> ConsoleConfig:
    config: ConsoleConfig = request.app.state.console
    return config


def _here(request: Request) -> str:
    if request.method != "GET":
        return request.url.path
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def require_session(request: Request, runtime: RuntimeDep) -> ConsoleSession:
    """The signed-in session of this request, or SignInRequired (forged, expired, signed out or revoked)."""
    config = console_config(request)
    session_id = session_id_from(config.key, request.cookies.get(SESSION_COOKIE))
    if session_id is None:
        raise SignInRequired(_here(request))
    found = await sessions.find(runtime.pool, config.key, config.admin_token, session_id)
    if found is None:
        raise SignInRequired(_here(request))
    who, expires_at = found
    session = ConsoleSession(session_id, who, expires_at, csrf_token(config.key, session_id))
    request.state.console_session = session
    return session


SessionDep = Annotated[ConsoleSession, Depends(require_session)]


async def checked_form(request: Request, session: SessionDep) -> Form:
    """The submitted form, after checking the session's CSRF token (field `csrf_token` or `X-CSRF-Token`)."""
    form = await read_form(request)
    presented = request.headers.get("x-csrf-token") or form.get("csrf_token") or None
    if not token_equal(presented, session.csrf_token):
        raise CsrfRefused()
    return form


FormDep = Annotated[Form, Depends(checked_form)]
