"""Rendering console pages: the Jinja2 templates, `render` (which every page uses), redirects with a message.

`render` adds what the layout needs to every page: the session (who is signed in), its CSRF token for
forms, the navigation and the current section, and a one-time message left by the previous request.
Templates escape every value (autoescape); nothing from mail or a form is ever marked safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from intake.config_api.console import labels
from intake.config_api.console.access import console_config
from intake.config_api.console.session_cookies import FLASH_COOKIE, flash_from, signed_flash

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)

templates.env.filters.update(
    outcome_label=labels.outcome_label,
    outcome_icon=labels.outcome_icon,
    health_label=labels.health_label,
    health_icon=labels.health_icon,
    provider_label=labels.provider_label,
    when=labels.when,
)


@dataclass(frozen=True)
class NavItem:
    section: str  # what `section` a page is in
    href: str
    label: str
    group: str | None  # "Configuration", "System": shown before the label


NAV = (
    NavItem("inboxes", "/inboxes", "Inboxes", "Configuration"),
    NavItem("email-log", "/email-log", "Email log", "System"),
    NavItem("issues", "/issues", "Issues", None),
    NavItem("reference", "/reference-data", "Reference data", None),
    NavItem("tokens", "/api-tokens", "API tokens", None),
)


def section_of(path: str) -> str | None:
    """The navigation section a path belongs to.

    >>> section_of("/inboxes/3/edit"), section_of("/email-log"), section_of("/sign-in")
    ('inboxes', 'email-log', None)
    """
    for item in NAV:
        if path == item.href or path.startswith(item.href + "/"):
            return item.section
    return None


def cookie_secure(request: Request) -> bool:
    """Whether cookies get `Secure`: the request came over https (or, if trusted, the proxy says so)."""
    if request.url.scheme == "https":
        return True
    config = console_config(request)
    return config.trust_forwarded_proto and request.headers.get("x-forwarded-proto", "").lower() == "https"


def render(
    request: Request, template_name: str, context: Mapping[str, Any] | None = None, status_code: int = 200
) -> Response:
    """The page `template_name` with `context`, plus the session, CSRF token, navigation and any message."""
    session = getattr(request.state, "console_session", None)
    config = console_config(request)
    flash_cookie = request.cookies.get(FLASH_COOKIE)
    values: dict[str, Any] = {
        "session": session,
        "csrf_token": session.csrf_token if session else None,
        "nav": NAV,
        "section": section_of(request.url.path),
        "flash": flash_from(config.key, flash_cookie),
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, template_name, values, status_code=status_code, headers={"Cache-Control": "no-store"}
    )
    if flash_cookie is not None:
        response.delete_cookie(FLASH_COOKIE, path="/", secure=cookie_secure(request), httponly=True, samesite="strict")
    return response


def redirect(request: Request, url: str, message: str | None = None) -> RedirectResponse:
    """303 to `url` (after a POST), with `message` shown once on the next page."""
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    if message:
        response.set_cookie(
            FLASH_COOKIE,
            signed_flash(console_config(request).key, message),
            max_age=120,
            path="/",
            secure=cookie_secure(request),
            httponly=True,
            samesite="strict",
        )
    return response
