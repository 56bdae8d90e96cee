"""The whole journey of issue 11 in a real Chromium, against the Dovecot fixture and the three services as
processes: sign in; create an inbox through the form; Test connection (each stage shown, then a wrong
password named as the login stage); mail arriving in the email log left open in live mode; its detail,
its issue and the attachment downloaded byte for byte; an ignored sender logged with its rule, the rule
removed, the message reprocessed into an issue.

Every step is saved as a screenshot (and its HTML) under build/screenshots/<test>/; on a failure the
browser fixture keeps one more of the page as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.console.mail_flow import final_row, run_pipeline
from tests.e2e.messages import PDF, message
from tests.support.api import Api
from tests.support.browser import ConsoleBrowser
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack

IGNORED = "newsletter@promo.example.net"
WAIT_MS = 60_000


def fill_new_inbox_form(page: Page, dovecot: Dovecot, username: str, password: str) -> None:
    page.get_by_label("Provider", exact=True).select_option("custom")
    page.get_by_label(re.compile(r"^Mailbox address")).fill(f"{username}@example.test")
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("IMAP server", exact=True).fill(dovecot.host)
    page.get_by_label("Port", exact=True).fill(str(dovecot.imap_port))
    page.get_by_label(re.compile(r"^None")).check()
    page.get_by_label("Check every (seconds)", exact=True).fill("1")


def notice(page: Page, words: str) -> None:
    """Wait for a polite notice (role=status) with `words` (a regular expression, any case)."""
    expect(page.get_by_role("status").filter(has_text=re.compile(words, re.I))).to_be_visible(timeout=WAIT_MS)


def test_the_whole_journey(
    stack: Stack,
    api: Api,
    dovecot: Dovecot,
    console_browser: Callable[[str], ConsoleBrowser],
    base_url: str,
    admin_token: str,
    tmp_path: Path,
) -> None:
    run_pipeline(stack)
    mailbox = dovecot.new_user("journey")
    browser = console_browser(base_url)
    page = browser.page

    # 1. Sign in.
    browser.goto("/sign-in")
    browser.shot("sign-in")
    browser.sign_in(admin_token)
    browser.shot("signed in: the inbox list")

    # 2. Create an inbox through the form.
    page.get_by_role("link", name="Add an inbox").first.click()
    page.wait_for_url("**/inboxes/new")
    fill_new_inbox_form(page, dovecot, mailbox.username, mailbox.password)
    browser.shot("new inbox form, filled in")

    # 3. Test connection on the unsaved values: green, with each stage shown.
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Connection works", timeout=WAIT_MS)
    for stage in ("Connect", "TLS", "Log in", "Open the folder"):
        expect(result.locator("li", has_text=stage)).to_have_count(1)
    expect(result.locator("li", has_text="TLS")).to_contain_text("not used")
    browser.shot("test connection: every stage passed")

    # 4. A wrong password names the login stage in words.
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("Connection failed", timeout=WAIT_MS)
    expect(result.locator("li", has_text="Log in")).to_contain_text(re.compile("fail", re.I))
    expect(result.locator("li", has_text="Connect")).not_to_contain_text(re.compile("fail", re.I))
    expect(result).to_contain_text(re.compile("password", re.I))
    browser.shot("test connection: wrong password")

    page.get_by_label("Password", exact=True).fill(mailbox.password)
    page.get_by_role("button", name="Create the inbox").click()
    notice(page, "created")
    (inbox,) = api.get("/api/v1/inboxes")["items"]
    assert inbox["username"] == mailbox.username
    browser.shot("inbox created")

    # 5. The email log, left open in live mode, shows new mail without a reload.
    browser.goto("/email-log")
    expect(page.locator("#live-bar")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    browser.shot("email log, live, before the mail")
    raw, message_id = message("Printer on fire", "It smokes.", attachment=("manual.pdf", PDF))
    mailbox.append(raw)
    live_row = page.locator("#log-rows tr", has_text="Printer on fire")
    expect(live_row).to_have_count(1, timeout=WAIT_MS)
    row = final_row(api, inbox["id"], message_id, stack=stack, outcome="issue_created")
    expect(live_row).to_contain_text("Issue created", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument") is True, "the email log reloaded"
    expect(page.locator("#live-status")).to_contain_text("1 new message")
    browser.shot("email log, live, the new row")

    # 6. Its detail, then the issue, then the attachment, byte for byte.
    live_row.get_by_role("link", name="Printer on fire").click()
    page.wait_for_url(f"**/email-log/{row['id']}")
    expect(page.get_by_role("heading", name="Printer on fire")).to_be_visible()
    browser.shot("email log detail")
    page.get_by_role("link", name=re.compile(f"#{row['issue_number']}")).first.click()
    page.wait_for_url(f"**/issues/{row['issue_number']}")
    browser.shot("issue detail")
    with page.expect_download() as download:
        page.get_by_role("link", name="manual.pdf").click()
    saved = tmp_path / "manual.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == PDF

    # 7. An ignored sender: logged with the rule named; the rule removed; reprocessed into an issue.
    browser.goto(f"/inboxes/{inbox['id']}")
    page.get_by_label("Ignored senders", exact=True).fill(IGNORED)
    page.get_by_role("button", name="Save changes").click()
    notice(page, "saved")
    assert api.get(f"/api/v1/inboxes/{inbox['id']}")["ignored_senders"] == [IGNORED]
    browser.shot("ignored sender added")

    raw, message_id = message("Big savings this week", "Buy now.", sender=f"Promo <{IGNORED}>")
    mailbox.append(raw)
    ignored = final_row(api, inbox["id"], message_id, stack=stack, outcome="ignored_sender")
    browser.goto(f"/email-log/{ignored['id']}")
    # The reason names the rule that matched (here the whole address), not just the outcome.
    expect(page.locator("main")).to_contain_text(re.compile(rf"ignored sender {re.escape(IGNORED)}", re.I))
    browser.shot("ignored sender: logged with its rule")

    browser.goto(f"/inboxes/{inbox['id']}")
    page.get_by_label("Ignored senders", exact=True).fill("")
    page.get_by_role("button", name="Save changes").click()
    notice(page, "saved")
    assert api.get(f"/api/v1/inboxes/{inbox['id']}")["ignored_senders"] == []

    browser.goto(f"/email-log/{ignored['id']}")
    page.get_by_role("button", name="Reprocess").click()
    notice(page, "reprocess")
    reprocessed = final_row(api, inbox["id"], message_id, stack=stack, outcome="issue_created")
    browser.goto(f"/email-log/{ignored['id']}")
    expect(page.locator("main")).to_contain_text("Issue created")
    browser.shot("reprocessed: an issue")
    browser.goto(f"/issues/{reprocessed['issue_number']}")
    expect(page.get_by_role("heading", level=1, name="Big savings this week")).to_be_visible()
    browser.shot("the reprocessed message's issue")
