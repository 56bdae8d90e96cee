"""Configuration → Inboxes in Chromium: the form's errors, Test connection against Dovecot, create, edit,
activate/deactivate, delete with confirmation, CSRF, no secret in any page, the no-JavaScript fallback."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import Api
from tests.support.blocking import fetchval
from tests.support.browser import NARROW, WIDE, ConsoleBrowser, OpenConsole
from tests.support.dovecot import Dovecot, Mailbox


def _fill_server(console: ConsoleBrowser, dovecot: Dovecot, mailbox: Mailbox, password: str) -> None:
    page = console.page
    page.get_by_label("Provider", exact=True).select_option("custom")
    page.get_by_label("Mailbox address (required)", exact=True).fill(f"{mailbox.username}@example.test")
    page.get_by_label("User name", exact=True).fill(mailbox.username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("IMAP server", exact=True).fill(dovecot.host)
    page.get_by_label("Port", exact=True).fill(str(dovecot.imap_port))
    page.locator("#encryption-tls").check()
    page.get_by_label("CA certificate (optional)", exact=True).fill(dovecot.ca_pem)


def _html_has_no(console: ConsoleBrowser, *secrets: str) -> None:
    html = console.page.content()
    for secret in secrets:
        assert secret not in html


def test_the_form_shows_errors_inline_with_a_summary_then_tests_and_creates(
    console: ConsoleBrowser, api: Api, dovecot: Dovecot
) -> None:
    mailbox = dovecot.new_user("console")
    page = console.page
    console.goto("/inboxes/new")
    console.shot("form-empty")
    console.check_accessibility("inbox form, empty")

    page.get_by_label("Mailbox address (required)", exact=True).fill("not an address")
    page.get_by_label("Password", exact=True).fill("typed-secret-1")
    page.get_by_label("Port", exact=True).fill("nine")
    page.get_by_label("Ignored senders", exact=True).fill("noreply@example.com\nnot valid\n<x@y>")
    page.get_by_role("button", name="Create the inbox").click()

    summary = page.get_by_role("alert").filter(has_text="before it can be saved")
    assert summary.is_visible()
    links = {link.get_attribute("href") for link in summary.get_by_role("link").all()}
    assert {"#email", "#port", "#hostname", "#ignored_senders"} <= links
    assert "must be an email address" in page.locator("#email-error").inner_text()
    assert "whole number" in page.locator("#port-error").inner_text()
    senders = page.locator("#ignored_senders-error").inner_text()
    assert "line 2 ('not valid')" in senders
    assert "line 3 ('<x@y>')" in senders
    assert "line 1" not in senders
    assert page.locator("#email").get_attribute("aria-invalid") == "true"
    _html_has_no(console, "typed-secret-1")
    assert "enter them again" in page.content()
    console.shot("form-errors")
    console.check_accessibility("inbox form with errors")
    console.at_width(NARROW)
    console.shot("form-errors-narrow")
    console.at_width(WIDE)

    _fill_server(console, dovecot, mailbox, mailbox.password)
    page.get_by_label("Ignored senders", exact=True).fill("noreply@example.com\n@spam.example")
    page.get_by_role("button", name="Test connection").click()
    result = page.get_by_role("status").filter(has_text="Connection works")
    result.wait_for()
    stages = page.locator(".stages li").all_inner_texts()
    assert [line.split()[-1] for line in stages] == ["passed"] * 4
    assert page.get_by_label("Password", exact=True).input_value() == mailbox.password  # kept: tested in place
    console.shot("test-connection-ok")

    page.get_by_label("Password", exact=True).fill("wrong-password-2")
    page.get_by_role("button", name="Test connection").click()
    page.get_by_role("status").filter(has_text="Connection failed").wait_for()
    failed = page.locator(".stages li").all_inner_texts()
    assert "Log in" in failed[2]
    assert failed[2].endswith("failed")
    assert failed[3].endswith("not tried")
    detail = page.locator(".test-detail").inner_text()
    assert "password" in detail.lower() or "login" in detail.lower() or "log in" in detail.lower()
    _html_has_no(console, "wrong-password-2")
    console.shot("test-connection-wrong-password")

    page.get_by_label("Password", exact=True).fill(mailbox.password)
    page.get_by_role("button", name="Create the inbox").click()
    page.get_by_role("status").filter(has_text="created").wait_for()
    inbox = api.get("/api/v1/inboxes")["items"][0]
    assert inbox["encryption"] == "tls"
    assert inbox["password_set"] is True
    assert inbox["ignored_senders"] == ["noreply@example.com", "@spam.example"]
    assert page.url.endswith(f"/inboxes/{inbox['id']}")
    _html_has_no(console, mailbox.password)
    assert page.get_by_text("Set", exact=True).first.is_visible()
    console.shot("inbox-edit")
    console.check_accessibility("inbox edit form")

    # The saved values test green too (the stored password, never sent back to the page).
    page.get_by_role("button", name="Test connection").click()
    page.get_by_role("status").filter(has_text="Connection works").wait_for()

    # Changing the server without typing the password again is refused, in words, beside the field.
    page.get_by_label("Port", exact=True).fill(str(dovecot.imap_port + 1))
    page.get_by_role("button", name="Save changes").click()
    assert "re-enter the password" in page.locator("#password-error").inner_text()
    _html_has_no(console, mailbox.password)

    console.goto("/inboxes")
    row = page.get_by_role("row").filter(has_text=inbox["email"])
    assert row.is_visible()
    assert "Not checked yet" in row.inner_text()
    console.shot("inbox-list")
    console.check_accessibility("inbox list")
    console.at_width(NARROW)
    console.shot("inbox-list-narrow")


def test_activate_deactivate_and_delete_with_confirmation(
    console: ConsoleBrowser, api: Api, dovecot: Dovecot, database_url: str
) -> None:
    inbox = api.create_inbox(dovecot, dovecot.new_user("toggle"))
    page = console.page
    console.goto(f"/inboxes/{inbox['id']}")
    page.get_by_role("button", name="Deactivate").click()
    page.get_by_role("status").filter(has_text="deactivated").wait_for()
    assert api.get(f"/api/v1/inboxes/{inbox['id']}")["active"] is False
    assert page.locator(".status-panel").get_by_text("Inactive").is_visible()
    page.get_by_role("button", name="Activate").click()
    page.get_by_role("status").filter(has_text="activated").wait_for()
    assert api.get(f"/api/v1/inboxes/{inbox['id']}")["active"] is True

    fetchval(
        database_url,
        """INSERT INTO config.email_log (inbox_id, uidvalidity, uid, raw_sha256, logged_at, outcome)
           VALUES ($1, 1, 1, repeat('a', 64), now(), 'issue_created')""",
        inbox["id"],
    )
    page.get_by_role("link", name="Delete…").click()
    assert "1 email log row and the issues" in page.content()
    console.shot("delete-confirmation")
    console.check_accessibility("delete confirmation")
    page.get_by_role("button", name="Delete the inbox").click()
    page.get_by_role("status").filter(has_text="deleted").wait_for()
    assert api.http.get(f"/api/v1/inboxes/{inbox['id']}").status_code == 404
    assert fetchval(database_url, "SELECT count(*) FROM config.email_log WHERE inbox_id = $1", inbox["id"]) == 1
    console.shot("list-after-delete")


def test_the_list_counts_todays_mail_by_outcome_and_links_to_the_log(
    console: ConsoleBrowser, api: Api, dovecot: Dovecot, database_url: str
) -> None:
    inbox = api.create_inbox(dovecot, dovecot.new_user("counts"))
    for uid, outcome in enumerate(("issue_created", "issue_created", "failed", "ignored_sender"), start=1):
        fetchval(
            database_url,
            """INSERT INTO config.email_log (inbox_id, uidvalidity, uid, raw_sha256, logged_at, outcome)
               VALUES ($1, 1, $2, repeat('b', 64), now(), $3)""",
            inbox["id"],
            uid,
            outcome,
        )
    fetchval(
        database_url,
        """INSERT INTO config.inbox_status (inbox_id, state, last_error, consecutive_failures, push, reported_at)
           VALUES ($1, 'needs_reauth', 'the refresh token was revoked', 3, true, now())""",
        inbox["id"],
    )
    console.goto("/inboxes")
    today = console.page.locator(".counts")
    created = today.get_by_role("link").filter(has_text="Issue created")
    assert created.inner_text().split()[0] == "2"
    href = created.get_attribute("href") or ""
    assert f"inbox_id={inbox['id']}" in href
    assert "outcome=issue_created" in href
    assert "since=" in href
    assert today.get_by_role("link").filter(has_text="Failed").inner_text().split()[0] == "1"
    banner = console.page.locator(".row-banner")
    assert "must be connected again" in banner.inner_text()
    assert banner.get_by_role("link", name="Connect").is_visible()
    assert "Needs sign-in" in console.page.get_by_role("row").filter(has_text=inbox["email"]).first.inner_text()
    console.shot("list-with-counts-and-reauth")
    console.check_accessibility("inbox list with counts")
    console.page.emulate_media(color_scheme="dark")
    console.shot("list-with-counts-dark")
    console.check_accessibility("inbox list with counts, dark")
    console.page.emulate_media(color_scheme="light")
    console.goto(f"/inboxes/{inbox['id']}")
    assert console.page.get_by_role("link", name="Connect again").is_visible()
    console.shot("edit-needs-reauth")
    console.page.emulate_media(color_scheme="dark")
    console.shot("edit-needs-reauth-dark")
    console.check_accessibility("inbox edit, dark")


def test_state_changes_without_the_csrf_token_are_refused_and_change_nothing(
    console: ConsoleBrowser, api: Api, dovecot: Dovecot, database_url: str
) -> None:
    inbox = api.create_inbox(dovecot, dovecot.new_user("csrf"))
    request = console.page.request
    answer = request.post(console.url(f"/inboxes/{inbox['id']}/delete"), form={"csrf_token": "forged"})
    assert answer.status == 403
    assert "nothing was changed" in answer.text()
    answer = request.post(console.url(f"/inboxes/{inbox['id']}/active"), form={"active": "0"})
    assert answer.status == 403
    answer = request.post(
        console.url("/inboxes/new"),
        form={"provider": "yahoo", "email": "x@example.com", "password": "p", "action": "save"},
    )
    assert answer.status == 403
    assert fetchval(database_url, "SELECT count(*) FROM config.inboxes") == 1
    assert fetchval(database_url, "SELECT active FROM config.inboxes WHERE id = $1", inbox["id"]) is True


def test_without_javascript_a_provider_preset_still_applies(
    console_browser: OpenConsole, base_url: str, admin_token: str, api: Api
) -> None:
    console = console_browser(base_url, javascript=False)
    console.sign_in(admin_token)
    console.goto("/inboxes/new")
    page = console.page
    page.get_by_label("Provider", exact=True).select_option("yahoo")
    page.get_by_label("Mailbox address (required)", exact=True).fill("help@yahoo.example")
    page.get_by_label("Password", exact=True).fill("app-password-3")
    page.get_by_label("IMAP server", exact=True).fill("stale.example.com")  # no script locks it: the server ignores it
    page.get_by_role("button", name="Create the inbox").click()
    page.get_by_role("status").filter(has_text="created").wait_for()
    inbox: dict[str, Any] = api.get("/api/v1/inboxes")["items"][0]
    assert (inbox["hostname"], inbox["port"], inbox["encryption"]) == ("imap.mail.yahoo.com", 993, "ssl")
    assert page.get_by_label("IMAP server", exact=True).input_value() == "imap.mail.yahoo.com"
    _html_has_no(console, "app-password-3")
    console.shot("created-without-javascript")


def test_the_form_works_by_keyboard_with_labels_and_legends(console: ConsoleBrowser) -> None:
    console.goto("/inboxes/new")
    page = console.page
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
             .filter(e => e.offsetParent !== null)
             .filter(e => !e.labels || e.labels.length === 0 || !Array.from(e.labels).some(l => l.offsetParent))
             .map(e => e.id || e.name)"""
    )
    assert unlabelled == []
    loose_radios = page.evaluate(
        """() => Array.from(document.querySelectorAll('input[type=radio]'))
             .filter(e => { const f = e.closest('fieldset'); return !f || !f.querySelector('legend'); })
             .map(e => e.id)"""
    )
    assert loose_radios == []
    reached = console.tab_order()
    missing = [name for name in console.focusable_controls() if name not in reached]
    assert missing == [], f"not reachable by Tab: {missing}"
    # Results are announced: the test result region is a status.
    assert page.locator("#test-result").get_attribute("role") == "status"


def test_a_malformed_inbox_address_is_a_page_not_json(base_url: str, console: ConsoleBrowser) -> None:
    answer = console.goto("/inboxes/not-a-number")
    assert answer.status == 404
    assert "no page at this address" in console.page.content()
    with httpx.Client(base_url=base_url) as http:
        assert http.get("/api/v1/inboxes/not-a-number").headers["content-type"].startswith("application/json")


def test_the_empty_form_names_every_missing_field_at_once_and_preselects_the_issue_type(
    console: ConsoleBrowser, api: Api
) -> None:
    support = next(row for row in api.get("/api/v1/issue-types")["items"] if row["name"] == "Support")
    console.goto("/inboxes/new")
    page = console.page
    assert page.get_by_label("Issue type", exact=True).input_value() == str(support["id"])
    assert page.locator("#issue_type_id option[value='']").inner_text() == "None"  # still selectable

    page.get_by_role("button", name="Create the inbox").click()
    summary = page.get_by_role("alert").filter(has_text="before it can be saved")
    links = {link.get_attribute("href") for link in summary.get_by_role("link").all()}
    assert {"#email", "#hostname", "#password"} <= links
    for name in ("email", "hostname", "password"):
        assert "is required" in page.locator(f"#{name}-error").inner_text()
    console.shot("form-empty-submitted")


def test_the_edit_form_shows_format_and_cross_field_errors_at_once(
    console: ConsoleBrowser, api: Api, dovecot: Dovecot
) -> None:
    inbox = api.create_inbox(dovecot, dovecot.new_user("both"))
    console.goto(f"/inboxes/{inbox['id']}")
    page = console.page
    page.get_by_label("Port", exact=True).fill("nine")  # a format error
    page.get_by_label("IMAP server", exact=True).fill("")  # a rule: a custom server needs one
    page.get_by_role("button", name="Save changes").click()
    summary = page.get_by_role("alert").filter(has_text="before it can be saved")
    links = {link.get_attribute("href") for link in summary.get_by_role("link").all()}
    assert {"#port", "#hostname"} <= links
    assert "whole number" in page.locator("#port-error").inner_text()
    assert "required" in page.locator("#hostname-error").inner_text()
    assert api.get(f"/api/v1/inboxes/{inbox['id']}")["port"] == inbox["port"]  # nothing saved
    console.shot("edit-both-errors")
