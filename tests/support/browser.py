"""Driving the web console in a real Chromium (Debian's /usr/bin/chromium, never a downloaded browser).

A pytest plugin (registered in tests/conftest.py) with:
- `chromium`: one headless Chromium for the session, started only when a test asks for it;
- `console_browser`: a factory `console_browser(base_url)` → `ConsoleBrowser`, a fresh browser context
  per test whose screenshots go to build/screenshots/<test>/ (INTAKE_SCREENSHOTS_DIR overrides);
- on a failed test, a screenshot and the HTML of every page the test had open, in the same folder.

`ConsoleBrowser` signs in, takes named screenshots (`shot`), runs axe-core (`check_accessibility`: no
serious or critical violation) and lists the page's focusable controls in Tab order (`tab_order`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 400, "height": 860}
SERIOUS = ("serious", "critical")


def screenshots_root() -> Path:
    return Path(os.environ.get("INTAKE_SCREENSHOTS_DIR", ROOT / "build" / "screenshots"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:120]


class AccessibilityViolations(AssertionError):
    pass


@dataclass
class ConsoleBrowser:
    """One test's browser context on the console at `base_url`, with its screenshot folder."""

    base_url: str
    context: BrowserContext
    page: Page
    folder: Path
    shots: list[Path] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def goto(self, path: str) -> Any:
        return self.page.goto(self.url(path))

    def sign_in(self, token: str, then: str = "/inboxes") -> None:
        """Sign in through the sign-in form and wait for `then` (the page it lands on)."""
        self.goto(f"/sign-in?next={then}")
        self.page.get_by_label("Token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.url(then))

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a screenshot (and the HTML beside it) as NN-name.png, numbered in the order taken."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.shots) + 1:02d}-{_safe(name)}.png"
        self.page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        path.with_suffix(".html").write_text(self.page.content())
        self.shots.append(path)
        return path

    def at_width(self, size: dict[str, int]) -> None:
        self.page.set_viewport_size(size)

    def check_accessibility(self, name: str) -> None:
        """Run axe-core on the page; fail listing every serious or critical violation."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        bad = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
        if bad:
            lines = [f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:5]}" for v in bad]
            raise AccessibilityViolations(f"axe on {name} ({self.page.url}):\n" + "\n".join(lines))

    def tab_order(self, limit: int = 200) -> list[str]:
        """Press Tab from the top of the page and name each element that takes focus, until focus wraps."""
        self.page.evaluate("document.activeElement && document.activeElement.blur()")
        self.page.evaluate("window.scrollTo(0, 0)")
        seen: list[str] = []
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            described = self.page.evaluate(
                """() => { const e = document.activeElement; if (!e || e === document.body) return null;
                   return e.id ? '#' + e.id : (e.getAttribute('name') ? e.tagName.toLowerCase() + '[name=' +
                   e.getAttribute('name') + ']' : e.tagName.toLowerCase() + ':' + (e.textContent || '').trim()
                   .slice(0, 40)); }"""
            )
            if described is None or (seen and described == seen[0]):
                break
            seen.append(described)
        return seen

    def focusable_controls(self) -> list[str]:
        """The same names for every visible, enabled control that should be reachable by Tab."""
        names: list[str] = self.page.evaluate(
            """() => Array.from(document.querySelectorAll(
                 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])'))
               .filter(e => !e.disabled && e.offsetParent !== null
                       && !(e.type === 'radio' && !e.checked && document.querySelector(
                            'input[type=radio][name="' + e.name + '"]:checked')))
               .map(e => e.id ? '#' + e.id : (e.getAttribute('name') ? e.tagName.toLowerCase() + '[name=' +
                    e.getAttribute('name') + ']' : e.tagName.toLowerCase() + ':' + (e.textContent || '').trim()
                    .slice(0, 40)))"""
        )
        return names


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one test. Not shared across tests: Playwright's synchronous API marks its
    event loop as running in this thread while it is started, which would break asyncio tests run later."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (deploy/local/system-deps.sh)")
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


class OpenConsole(Protocol):
    def __call__(self, base_url: str, *, javascript: bool = True, trust_test_tls: bool = False) -> ConsoleBrowser: ...


@pytest.fixture
def console_browser(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[OpenConsole]:
    """`console_browser(base_url, javascript=True)`: a new browser context (own cookies) on the console."""
    folder = screenshots_root() / _safe(request.node.name)
    for old in folder.parent.glob(folder.name + "*"):
        shutil.rmtree(old, ignore_errors=True)  # last run's pictures of this test
    opened: list[ConsoleBrowser] = []

    def open_console(base_url: str, *, javascript: bool = True, trust_test_tls: bool = False) -> ConsoleBrowser:
        # trust_test_tls: accept the throwaway CA of a test's fake provider (the fake OAuth2 server).
        context = chromium.new_context(
            viewport=WIDE, base_url=base_url, java_script_enabled=javascript, ignore_https_errors=trust_test_tls
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        suffix = f"-{len(opened) + 1}" if opened else ""
        browser = ConsoleBrowser(base_url, context, page, folder.with_name(folder.name + suffix))
        opened.append(browser)
        return browser

    yield open_console
    for browser in opened:
        try:
            if request.node.stash.get(_FAILED, False):
                browser.shot("failure")
        finally:
            browser.context.close()
