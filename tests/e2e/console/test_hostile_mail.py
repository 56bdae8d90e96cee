"""Hostile mail is inert in the console: markup in a subject, a sender's name, a file name or an HTML body
goes through the real pipeline and then shows as text on every page, and none of it runs.

Each payload sets `window.__pwned` and opens an alert if it ever runs; the pages are opened in Chromium
with a dialog handler, and every frame is checked for the canary. The text must show escaped: the exact
strings the API reports appear in the page's visible text, and no element they describe exists.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from playwright.sync_api import Page

from tests.e2e.console.mail_flow import canary_in_any_frame, final_row, run_pipeline, watch_for_scripts
from tests.support.api import Api
from tests.support.browser import ConsoleBrowser
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack

SUBJECT = (
    'Refund <script>window.__pwned=1;alert("subject")</script> "><svg onload="window.__pwned=1;alert(1)"> '
    '<img src=x onerror="window.__pwned=1;alert(2)"> javascript:alert(3)'
)
SENDER_NAME = '<img src=x onerror="window.__pwned=1;alert(4)"> "><svg onload=window.__pwned=1>'
SENDER_PLACEHOLDER = "sender-placeholder@example.org"
FILENAME = '"><svg onload="window.__pwned=1;alert(6)"><img src=x onerror=alert(7)>.pdf'
TEXT_BODY = "Plain part: <script>window.__pwned=1;alert(12)</script> and a link javascript:alert(13)\n"
HTML_BODY = (
    "<html><head><script>window.__pwned=1;alert(8)</script></head><body><p>Hello</p>"
    '<img src=x onerror="window.__pwned=1;alert(9)">'
    '<a href="javascript:window.__pwned=1;alert(10)">open the invoice</a>'
    '<svg onload="window.__pwned=1;alert(11)"></svg>'
    '<iframe src="javascript:window.top.__pwned=1"></iframe>'
    '<form action="javascript:alert(14)"><button>Pay</button></form></body></html>'
)
# Elements or attributes that exist in a page's document only if mail markup was inserted as HTML.
INJECTED = (
    "svg[onload], img[onerror], [onload], [onerror], a[href^='javascript:' i], iframe[src^='javascript:' i], "
    "form[action^='javascript:' i], script:not([src])"
)


def hostile_message(*, with_text_part: bool) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = SENDER_PLACEHOLDER
    msg["To"] = "support@example.test"
    msg["Subject"] = SUBJECT if with_text_part else f"HTML only {SUBJECT}"
    msg["Message-ID"] = message_id = make_msgid(domain="example.org")
    if with_text_part:
        msg.set_content(TEXT_BODY)
        msg.add_alternative(HTML_BODY, subtype="html")
    else:
        msg.set_content(HTML_BODY, subtype="html")
    msg.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename=FILENAME)
    # Written by hand: the email package refolds an address header and drops the display name's quotes.
    sender = formataddr((SENDER_NAME, "mallory@example.org")).encode()
    return msg.as_bytes().replace(f"From: {SENDER_PLACEHOLDER}".encode(), b"From: " + sender, 1), message_id


def assert_inert(page: Page, dialogs: list[str], where: str, *, shows: list[str]) -> None:
    """No dialog opened, no canary set in any frame, nothing of the mail became markup; `shows` is visible text."""
    page.wait_for_load_state("load")
    assert dialogs == [], f"{where}: a script from the mail ran: {dialogs}"
    assert canary_in_any_frame(page) == [], f"{where}: window.__pwned was set"
    for frame in page.frames:
        injected = frame.evaluate(f"() => Array.from(document.querySelectorAll({INJECTED!r})).map(e => e.outerHTML)")
        assert injected == [], f"{where}: markup from the mail in frame {frame.url}: {injected}"
    for frame in page.locator("iframe").all():
        sandbox = frame.get_attribute("sandbox")
        assert sandbox is not None, f"{where}: an iframe without sandbox"
        assert "allow-scripts" not in sandbox, f"{where}: an iframe that may run scripts ({sandbox})"
    text = page.locator("body").inner_text()
    for expected in shows:
        assert expected in text, f"{where}: {expected!r} is not shown as text"


def test_hostile_mail_shows_as_text_and_runs_nowhere(
    stack: Stack, api: Api, dovecot: Dovecot, console: ConsoleBrowser
) -> None:
    # The check can fail: markup like the mail's, inserted as HTML, is caught by each of its parts.
    probe = console.context.new_page()
    probe_dialogs = watch_for_scripts(probe)
    probe.set_content(f"<p>{HTML_BODY}</p>")
    probe.wait_for_function("() => window.__pwned === 1")
    assert canary_in_any_frame(probe)
    assert probe_dialogs
    probe.close()

    mailbox = dovecot.new_user("hostile")
    inbox = api.create_inbox(dovecot, mailbox)
    run_pipeline(stack)
    raw, message_id = hostile_message(with_text_part=True)
    raw_html, html_message_id = hostile_message(with_text_part=False)
    mailbox.append(raw)
    mailbox.append(raw_html)
    row = final_row(api, inbox["id"], message_id, stack=stack, outcome="issue_created")
    html_row = final_row(api, inbox["id"], html_message_id, stack=stack, outcome="issue_created")
    assert "<script>" in row["subject"]
    issue: dict[str, Any] = api.get(f"/api/v1/issues/{row['issue_number']}")
    message = issue["messages"][0]
    (attachment,) = message["attachments"]
    assert "<svg onload=" in attachment["filename"], attachment["filename"]
    assert SENDER_NAME in issue["requester"]["name"]

    page = console.page
    dialogs = watch_for_scripts(page)
    pages: list[tuple[str, str, list[str]]] = [
        ("email log", "/email-log", [row["subject"], row["from"]]),
        ("email log detail", f"/email-log/{row['id']}", [row["subject"], row["from"]]),
        ("email log detail, HTML only", f"/email-log/{html_row['id']}", [html_row["subject"]]),
        ("issue list", "/issues", [issue["title"], issue["requester"]["name"]]),
        (
            "issue detail",
            f"/issues/{row['issue_number']}",
            [issue["title"], issue["requester"]["name"], attachment["filename"], "<script>window.__pwned=1;alert(12)"],
        ),
        ("issue detail, HTML only", f"/issues/{html_row['issue_number']}", [html_row["subject"]]),
        ("inbox list", "/inboxes", [inbox["email"]]),
    ]
    for where, path, shows in pages:
        console.goto(path)
        # Open every disclosure (the issue page's sanitised HTML version is behind one); the email log's
        # "Filters" one has no visible summary on a wide screen, where its fields always show.
        for summary in page.locator("main details:not([open]) > summary:visible").all():
            summary.click()
        console.shot(f"hostile-{where}")
        assert_inert(page, dialogs, where, shows=shows)
