"""Every console page of this part works by keyboard: Tab reaches every control, each field has a visible
label, radio groups are fieldsets with legends."""

from __future__ import annotations

from tests.support.api import Api
from tests.support.browser import ConsoleBrowser
from tests.support.dovecot import Dovecot

LABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
    .filter(e => e.offsetParent !== null)
    .filter(e => !e.labels || !Array.from(e.labels).some(l => l.textContent.trim()))
    .map(e => e.id || e.name)"""
RADIOS_IN_FIELDSETS = """() => Array.from(document.querySelectorAll('input[type=radio]'))
    .filter(e => { const f = e.closest('fieldset'); return !f || !f.querySelector('legend'); }).map(e => e.id)"""


PAGES = ["/inboxes", "/inboxes/{id}", "/inboxes/{id}/delete", "/reference-data", "/api-tokens"]


def test_tab_reaches_every_control(console: ConsoleBrowser, api: Api, dovecot: Dovecot) -> None:
    inbox = api.create_inbox(dovecot, dovecot.new_user("keys"))
    page = console.page
    for path in PAGES:
        console.goto(path.format(id=inbox["id"]))
        assert page.evaluate(LABELLED) == [], path
        assert page.evaluate(RADIOS_IN_FIELDSETS) == [], path
        reached = console.tab_order()
        missing = [name for name in console.focusable_controls() if name not in reached]
        assert missing == [], f"not reachable by Tab on {path}: {missing}"
        assert reached[0].startswith("a:Skip to content"), path
