"""Reference data and API tokens in Chromium: create, rename, delete (a refusal names the inboxes that use the
item, with links); a token shown once, working, then revoked."""

from __future__ import annotations

import httpx

from tests.support.api import Api
from tests.support.browser import NARROW, WIDE, ConsoleBrowser
from tests.support.dovecot import Dovecot


def test_reference_data_create_rename_delete_and_a_refusal_that_names_the_inboxes(
    console: ConsoleBrowser, api: Api, dovecot: Dovecot
) -> None:
    support = next(row for row in api.get("/api/v1/issue-types")["items"] if row["name"] == "Support")
    inbox = api.create_inbox(dovecot, dovecot.new_user("refdata"), issue_type_id=support["id"])
    page = console.page
    console.goto("/reference-data")
    console.shot("reference-data")
    console.check_accessibility("reference data")

    types = page.locator("section", has=page.get_by_role("heading", name="Issue types"))
    types.get_by_label("Name", exact=True).fill("   ")
    types.get_by_role("button", name="Add").click()
    assert page.locator("#issue-types--new-name-error").inner_text().strip() == "is required"
    assert page.locator("#error-summary a[href='#issue-types--new-name']").is_visible()
    console.shot("reference-data-error")
    console.check_accessibility("reference data with an error")

    types = page.locator("section", has=page.get_by_role("heading", name="Issue types"))
    types.get_by_label("Name", exact=True).fill("Support")
    types.get_by_role("button", name="Add").click()
    assert "already exists" in page.locator("#issue-types--new-name-error").inner_text()

    types = page.locator("section", has=page.get_by_role("heading", name="Issue types"))
    types.get_by_label("Name", exact=True).fill("Billing")
    types.get_by_role("button", name="Add").click()
    page.get_by_role("status").filter(has_text="“Billing” added").wait_for()
    billing = next(row for row in api.get("/api/v1/issue-types")["items"] if row["name"] == "Billing")
    rename = page.get_by_label("Name of issue type Billing")
    label = page.locator(f"label[for='{rename.get_attribute('id')}']")
    assert label.inner_text().startswith("New name")  # visible, not only to screen readers
    box = label.bounding_box()
    assert box is not None
    assert box["width"] > 20
    assert box["height"] > 5
    console.shot("reference-data-rename-labels")
    rename.fill("Billing & invoices")
    page.get_by_role("button", name="Rename Billing").click()
    page.get_by_role("status").filter(has_text="saved as “Billing & invoices”").wait_for()
    assert api.get(f"/api/v1/issue-types/{billing['id']}")["name"] == "Billing & invoices"

    users = page.locator("section", has=page.get_by_role("heading", name="Users"))
    users.get_by_label("Name", exact=True).fill("Ada Lovelace")
    users.get_by_label("E-mail (optional)").fill("ada@example.com")
    users.get_by_role("button", name="Add").click()
    page.get_by_role("status").filter(has_text="“Ada Lovelace” added").wait_for()
    assert api.get("/api/v1/users")["items"][0]["email"] == "ada@example.com"

    page.get_by_role("button", name="Delete Support").click()
    refusal = page.locator("#conflict")
    assert "“Support” was not deleted" in refusal.inner_text()
    link = refusal.get_by_role("link", name=inbox["email"])
    assert link.get_attribute("href") == f"/inboxes/{inbox['id']}"
    assert api.http.get(f"/api/v1/issue-types/{support['id']}").status_code == 200
    console.shot("reference-data-409")
    console.check_accessibility("reference data refusal")
    console.at_width(NARROW)
    console.shot("reference-data-409-narrow")
    console.at_width(WIDE)

    page.get_by_role("button", name="Delete Billing & invoices").click()
    page.get_by_role("status").filter(has_text="deleted").wait_for()
    assert api.http.get(f"/api/v1/issue-types/{billing['id']}").status_code == 404


def test_a_token_is_shown_once_works_and_is_revoked(console: ConsoleBrowser, base_url: str) -> None:
    page = console.page
    console.goto("/api-tokens")
    console.shot("tokens-empty")
    console.check_accessibility("tokens, none")
    page.get_by_role("button", name="Issue the token").click()
    assert page.locator("#token-name-error").inner_text().strip() == "is required"
    console.check_accessibility("tokens with an error")

    page.get_by_label("Name", exact=True).fill("ci pipeline")
    page.get_by_role("button", name="Issue the token").click()
    shown = page.get_by_role("status").filter(has_text="shown only this once")
    assert shown.is_visible()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("intake_")
    console.shot("token-created")
    console.check_accessibility("token created")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get("/api/v1/inboxes").status_code == 200

        console.goto("/api-tokens")
        assert token not in page.content()
        assert "ci pipeline" in page.content()
        console.shot("tokens-list")
        page.get_by_role("link", name="Revoke ci pipeline").click()
        console.shot("token-revoke-confirmation")
        console.check_accessibility("revoke confirmation")
        page.get_by_role("button", name="Revoke the token").click()
        page.get_by_role("status").filter(has_text="revoked").wait_for()
        assert http.get("/api/v1/inboxes").status_code == 401
    assert "No tokens issued yet" in page.content()
