"""Signing in and out of the console in Chromium; sessions that must not work; the security headers."""

from __future__ import annotations

import httpx

from tests.support.api import Api
from tests.support.blocking import fetchval
from tests.support.browser import NARROW, WIDE, ConsoleBrowser, OpenConsole


def test_sign_in_lands_on_the_page_asked_for_and_sign_out_ends_the_session(
    console_browser: OpenConsole, base_url: str, admin_token: str
) -> None:
    browser = console_browser(base_url)
    browser.goto("/inboxes")
    assert "/sign-in?next=%2Finboxes" in browser.page.url
    browser.shot("sign-in")
    browser.check_accessibility("sign-in")
    browser.at_width(NARROW)
    browser.shot("sign-in-narrow")
    browser.at_width(WIDE)

    browser.page.get_by_label("Token").fill("not-the-token-at-all")
    browser.page.get_by_role("button", name="Sign in").click()
    alert = browser.page.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    assert browser.page.get_by_label("Token").input_value() == ""  # the wrong token is not echoed
    browser.shot("sign-in-wrong-token")
    browser.check_accessibility("sign-in with an error")

    browser.sign_in(admin_token)
    cookie = next(c for c in browser.context.cookies() if c["name"] == "intake_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain http on loopback
    assert cookie["expires"] > 0  # not a browser-session cookie: it expires
    assert admin_token not in cookie["value"]
    assert browser.page.get_by_role("heading", name="Inboxes", exact=True).is_visible()
    browser.shot("inbox-list-empty")
    browser.check_accessibility("inbox list, empty")
    browser.at_width(NARROW)
    browser.shot("inbox-list-empty-narrow")
    browser.at_width(WIDE)

    browser.page.get_by_role("button", name="Sign out").click()
    browser.page.wait_for_url("**/sign-in")
    assert "signed out" in browser.page.get_by_role("status").inner_text()
    browser.goto("/inboxes")
    assert "/sign-in" in browser.page.url
    # The old cookie, replayed, opens nothing: the session row is gone.
    with httpx.Client(base_url=base_url, cookies={"intake_session": cookie["value"]}) as http:
        answer = http.get("/inboxes")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/sign-in")


def test_forged_and_expired_cookies_lead_to_the_sign_in_page(
    console: ConsoleBrowser, base_url: str, database_url: str
) -> None:
    cookie = next(c for c in console.context.cookies() if c["name"] == "intake_session")
    session_id, signature = cookie["value"].split(".")
    forged = f"{session_id}.{signature[:-4]}AAAA"
    console.context.add_cookies([{**cookie, "value": forged}])  # type: ignore[list-item]
    console.goto("/inboxes")
    assert "/sign-in?next=%2Finboxes" in console.page.url

    console.context.add_cookies([cookie])  # type: ignore[list-item]
    console.goto("/inboxes")
    assert console.page.url.endswith("/inboxes")
    # The same genuine cookie once its session has expired (the row is still there: only the time ends it).
    fetchval(database_url, "UPDATE config.console_sessions SET expires_at = now() - interval '1 second'")
    console.goto("/inboxes")
    assert "/sign-in" in console.page.url
    console.shot("expired-session")


def test_an_api_token_signs_in_and_revoking_it_ends_its_session(
    console_browser: OpenConsole, base_url: str, api: Api
) -> None:
    token = api.post("/api/v1/tokens", {"name": "console test"})
    browser = console_browser(base_url)
    browser.sign_in(token["token"])
    browser.goto("/inboxes")
    assert browser.page.url.endswith("/inboxes")
    assert api.http.delete(f"/api/v1/tokens/{token['id']}").status_code == 204
    browser.goto("/inboxes")
    assert "/sign-in" in browser.page.url


def test_console_pages_carry_the_security_headers(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as http:
        for path in ("/sign-in", "/inboxes", "/static/console.css", "/no-such-page"):
            headers = http.get(path).headers
            policy = headers["content-security-policy"]
            assert "script-src 'self'" in policy
            assert "'unsafe-inline'" not in policy
            assert "frame-ancestors 'none'" in policy
            assert "base-uri 'none'" in policy
            assert "form-action 'self'" in policy
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin"


def test_sign_in_refuses_a_form_without_its_nonce(base_url: str, admin_token: str) -> None:
    # Login CSRF: another site cannot sign a visitor in with its own token.
    with httpx.Client(base_url=base_url) as http:
        answer = http.post("/sign-in", data={"token": admin_token, "next": "/inboxes"})
        assert answer.status_code == 400
        assert "intake_session" not in answer.cookies


def test_sign_out_without_the_csrf_token_is_refused_and_the_session_stays(console: ConsoleBrowser) -> None:
    answer = console.page.request.post(console.url("/sign-out"), form={"csrf_token": "wrong"})
    assert answer.status == 403
    answer = console.page.request.post(console.url("/sign-out"))
    assert answer.status == 403
    console.goto("/inboxes")
    assert console.page.url.endswith("/inboxes")
    # Scripts send the token in a header instead of the form.
    token = console.page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    answer = console.page.request.post(console.url("/sign-out"), headers={"X-CSRF-Token": token}, max_redirects=0)
    assert answer.status == 303
    console.goto("/inboxes")
    assert "/sign-in" in console.page.url
