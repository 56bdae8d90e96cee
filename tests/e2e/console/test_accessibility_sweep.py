"""axe-core on every console page, at a desktop width and at a narrow (400 px) one: no serious or
critical violation anywhere. Each page is saved as a screenshot (and its HTML) at both widths, in the
order a person meets them: sign in, an empty console, an inbox, its form with errors, mail arriving.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.console.mail_flow import final_row, run_pipeline
from tests.e2e.messages import PDF, message
from tests.support.api import Api
from tests.support.browser import NARROW, WIDE, AccessibilityViolations, ConsoleBrowser
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack


class Sweep:
    """Checks each page at both widths and keeps every violation, so one run reports them all."""

    def __init__(self, browser: ConsoleBrowser) -> None:
        self.browser = browser
        self.violations: list[str] = []
        self.pages: list[str] = []

    def open(self, name: str, path: str) -> None:
        response = self.browser.goto(path)
        assert response is not None, f"{name}: no response for {path}"
        assert response.status == 200, f"{name}: {path} answered {response.status}"
        self.check(name)

    def check(self, name: str) -> None:
        """The page as it is now: screenshot and axe at the desktop width, then at 400 px."""
        self.pages.append(name)
        for label, size in (("", WIDE), ("narrow", NARROW)):
            self.browser.at_width(size)
            self.browser.shot(f"{name} {label}".strip())
            try:
                self.browser.check_accessibility(f"{name} {label}".strip())
            except AccessibilityViolations as violations:
                self.violations.append(str(violations))
        self.browser.at_width(WIDE)


def test_every_console_page_passes_axe_at_desktop_and_narrow_widths(
    stack: Stack,
    api: Api,
    dovecot: Dovecot,
    console_browser: Callable[[str], ConsoleBrowser],
    base_url: str,
    admin_token: str,
) -> None:
    browser = console_browser(base_url)
    sweep = Sweep(browser)
    sweep.open("sign-in", "/sign-in")
    browser.sign_in(admin_token)

    sweep.open("inbox list, empty", "/inboxes")
    sweep.open("email log, empty", "/email-log")
    sweep.open("inbox form, empty", "/inboxes/new")
    browser.page.get_by_role("button", name="Create the inbox").click()
    browser.page.get_by_role("alert").first.wait_for()
    sweep.check("inbox form, with errors")

    mailbox = dovecot.new_user("sweep")
    inbox = api.create_inbox(dovecot, mailbox)
    run_pipeline(stack)
    raw, message_id = message("Printer on fire", "It smokes.\nPlease send someone.", attachment=("manual.pdf", PDF))
    mailbox.append(raw)
    row = final_row(api, inbox["id"], message_id, stack=stack, outcome="issue_created")

    sweep.open("inbox list, one inbox", "/inboxes")
    sweep.open("inbox form, saved inbox", f"/inboxes/{inbox['id']}")
    sweep.open("email log, with rows", "/email-log")
    sweep.open("email log detail", f"/email-log/{row['id']}")
    sweep.open("issue list", "/issues")
    sweep.open("issue detail", f"/issues/{row['issue_number']}")
    sweep.open("reference data", "/reference-data")
    sweep.open("API tokens", "/api-tokens")

    assert not sweep.violations, "\n\n".join(sweep.violations)
    assert len(browser.shots) == 2 * len(sweep.pages)
