"""What the console shows when a request cannot go on: sign in first, a refused form, nothing found, a conflict.

`install_error_pages` registers the handlers; `is_console_path` tells the API's JSON error handler
which requests are the console's, so that a person sees a page and a program still sees JSON.
"""

from __future__ import annotations

from urllib.parse import urlencode

import structlog
from fastapi import FastAPI, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake.config_api.console.access import CsrfRefused, SignInRequired
from intake.config_api.console.forms import FormRefused
from intake.config_api.console.rendering import cookie_secure, render
from intake.config_api.console.session_cookies import SESSION_COOKIE
from intake.config_api.errors import Conflict, InvalidFields, NotFound

log = structlog.get_logger(__name__)

_NOT_CONSOLE = ("/api/", "/internal/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")


def is_console_path(path: str) -> bool:
    """Whether a request is for the console (a page) rather than the API (JSON)."""
    return not path.startswith(_NOT_CONSOLE)


def error_page(request: Request, status_code: int, title: str, detail: str) -> Response:
    return render(request, "error.html", {"title": title, "detail": detail}, status_code=status_code)


async def _sign_in_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequired)
    response = RedirectResponse("/sign-in?" + urlencode({"next": error.next_url}), status_code=303)
    if SESSION_COOKIE in request.cookies:
        # Forged, expired or ended: drop it, so the sign-in page starts clean.
        response.delete_cookie(SESSION_COOKIE, path="/", secure=cookie_secure(request), httponly=True)
    return response


async def _csrf_refused(request: Request, _: Exception) -> Response:
    log.warning("console form refused: csrf token missing or wrong", path=request.url.path)
    return error_page(
        request,
        status.HTTP_403_FORBIDDEN,
        "This form could not be accepted",
        "It did not carry this session's security token, so nothing was changed. "
        "Go back, reload the page and try again.",
    )


async def _form_refused(request: Request, error: Exception) -> Response:
    return error_page(request, status.HTTP_400_BAD_REQUEST, "This form could not be read", str(error))


async def console_error(request: Request, error: Exception) -> Response:
    """A NotFound, Conflict or InvalidFields (a bad query parameter) raised under a console page, as a page."""
    if isinstance(error, NotFound):
        return error_page(request, status.HTTP_404_NOT_FOUND, "Not found", str(error))
    if isinstance(error, InvalidFields):
        return error_page(request, status.HTTP_400_BAD_REQUEST, "This address is not right", str(error))
    if isinstance(error, Conflict):
        return error_page(request, status.HTTP_409_CONFLICT, "That could not be done", str(error))
    log.error("console request failed", path=request.url.path, error_type=type(error).__name__)
    return error_page(request, 500, "Something went wrong", "The request could not be completed; see the log.")


async def http_error_page(request: Request, error: StarletteHTTPException) -> Response:
    """Starlette's 404/405 for a console path, as a page."""
    titles = {404: "Page not found", 405: "Not allowed here"}
    title = titles.get(error.status_code, "The request could not be completed")
    detail = "There is no page at this address." if error.status_code == 404 else str(error.detail)
    return error_page(request, error.status_code, title, detail)


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(FormRefused, _form_refused)
