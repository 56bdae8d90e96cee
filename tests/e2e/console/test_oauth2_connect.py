"""The console's Connect button in Chromium: to the (fake) provider's consent, back through the callback, and
on to the inbox's page with the result; a refusal comes back in words too."""

from __future__ import annotations

from intake.shared.secrets import SecretBox
from tests.support.api import Api
from tests.support.blocking import fetchval
from tests.support.browser import OpenConsole
from tests.support.oauth2_server import FakeOAuth2Server


def _gmail_inbox(database_url: str, secret_key: str, client_id: str) -> int:
    inbox_id: int = fetchval(
        database_url,
        """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption, auth,
                                       oauth2_client_id, oauth2_client_secret_encrypted, active)
           VALUES ('gmail', 'help@gmail.example', 'help@gmail.example', 'imap.gmail.com', 993, 'ssl', 'oauth2',
                   $1, $2, false) RETURNING id""",
        client_id,
        SecretBox(secret_key).encrypt("client-secret"),
    )
    return inbox_id


def test_connect_goes_to_the_provider_and_comes_back_with_the_result(
    console_browser: OpenConsole,
    oauth2_api: Api,
    oauth2_server: FakeOAuth2Server,
    database_url: str,
    secret_key: str,
    admin_token: str,
) -> None:
    client = oauth2_server.register_client("help")
    inbox_id = _gmail_inbox(database_url, secret_key, client.client_id)
    console = console_browser(str(oauth2_api.http.base_url).rstrip("/"), trust_test_tls=True)
    console.sign_in(admin_token)
    console.goto(f"/inboxes/{inbox_id}")
    page = console.page
    assert "client-secret" not in page.content()
    page.get_by_role("link", name="Connect with Gmail").click()
    page.wait_for_url(f"**/inboxes/{inbox_id}?oauth2=connected", timeout=30_000)
    assert "Connected." in page.get_by_role("status").first.inner_text()
    assert fetchval(
        database_url, "SELECT oauth2_refresh_token_encrypted IS NOT NULL FROM config.inboxes WHERE id = $1", inbox_id
    )
    console.shot("connected")
    console.check_accessibility("inbox page after Connect")

    oauth2_server.deny_next_authorize = "access_denied"
    page.get_by_role("link", name="Connect with Gmail").click()
    page.wait_for_url(f"**/inboxes/{inbox_id}?oauth2=failed*", timeout=30_000)
    refusal = page.get_by_role("alert").filter(has_text="not connected")
    assert "the provider did not grant access" in refusal.inner_text()
    console.shot("connect-refused")
