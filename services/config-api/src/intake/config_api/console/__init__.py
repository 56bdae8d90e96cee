"""The web console (DESIGN §1): server-rendered pages at `/`, beside the API under /api/v1.

`install_console` adds the pages, the static files at /static/, the security headers and the error
pages to the app. Each page module owns one screen and has its own router; add a new one to PAGES.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from intake.config_api.console import (
    email_log_detail_pages,
    email_log_live,
    email_log_pages,
    inbox_form_pages,
    inbox_list_page,
    issue_pages,
    reference_pages,
    sign_in_pages,
    token_pages,
)
from intake.config_api.console.access import ConsoleConfig
from intake.config_api.console.error_pages import install_error_pages
from intake.config_api.console.rendering import STATIC_DIR
from intake.config_api.console.security_headers import SecurityHeaders
from intake.config_api.console.session_cookies import console_key

# The email log's fixed paths (live, reprocess-failed) come before its /email-log/{id} pages.
PAGES = (
    sign_in_pages,
    inbox_list_page,
    inbox_form_pages,
    email_log_live,
    email_log_pages,
    email_log_detail_pages,
    issue_pages,
    reference_pages,
    token_pages,
)


def console_config(
    secret_key: str, admin_token: str, session_minutes: int, trust_forwarded_proto: bool
) -> ConsoleConfig:
    return ConsoleConfig(console_key(secret_key), admin_token, session_minutes, trust_forwarded_proto)


def install_console(app: FastAPI, config: ConsoleConfig) -> None:
    app.state.console = config
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_error_pages(app)
    for page in PAGES:
        app.include_router(page.router)
