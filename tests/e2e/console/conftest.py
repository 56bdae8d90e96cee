"""Console fixtures: config-api as a real process (own database and vhost) and a signed-in Chromium on it."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.browser import ConsoleBrowser, OpenConsole
from tests.support.processes import Stack


@pytest.fixture
def base_url(api: Api, stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.env['INTAKE_API_PORT']}"


@pytest.fixture
def console(console_browser: OpenConsole, base_url: str, admin_token: str) -> ConsoleBrowser:
    """Chromium signed in to the console with the admin token, on the inbox list."""
    browser = console_browser(base_url)
    browser.sign_in(admin_token)
    return browser
