"""Issues in Chromium against config-api as a process: the list, one issue with its messages (text bodies,
never live HTML), attachments downloaded byte for byte, and each message's link to its email log row."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from intake.shared.contracts import Outcome
from tests.e2e.console.log_data import LogData
from tests.support.browser import NARROW, WIDE, ConsoleBrowser

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
HOSTILE = '<img src=x onerror="window.__hacked=1">"><svg onload=alert(1)>'
HTML_BODY = (
    '<p style="color:red">Hello in <b>HTML</b></p><script>window.parent.__hacked = 2</script>'
    '<img src="https://tracker.example/pixel.gif" onerror="window.parent.__hacked = 3">'
    '<a href="javascript:window.parent.__hacked = 4">click</a><form action="https://evil.example"><input></form>'
)


@pytest.fixture
def data(database_url: str, base_url: str) -> LogData:  # base_url: config-api has migrated the database
    return LogData(database_url)


def test_issue_list_and_detail(console: ConsoleBrowser, data: LogData) -> None:
    page = console.page
    console.goto("/issues")  # before the ingestor has migrated: said in words, not a server error
    expect(page.get_by_role("heading", name="Issues are not available yet")).to_be_visible()
    data.tracker_ready()
    console.goto("/issues")
    expect(page.get_by_role("heading", name="No issues yet")).to_be_visible()
    console.shot("issues-empty")
    console.check_accessibility("issue list, empty")

    log_row = data.add(1, "Printer on fire", Outcome.ISSUE_CREATED, issue_number=1)
    body = "Hello,\n\nthe printer on floor 3 is on fire again.\n\n" + HOSTILE + "\n\n" + "x" * 300 + "\n\nAnn"
    number, (pdf_id, hostile_id) = data.issue(
        "Printer on fire",
        "ann@customer.example",
        [
            (1, "Printer on fire", body, [("photo of the fire.pdf", "application/pdf", PDF)]),
            (9, "Re: Printer on fire [#1]", "Any news?", [(f"{HOSTILE}.txt", "text/html", b"<script>x</script>")]),
        ],
        html_bodies={1: HTML_BODY},
    )
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    console.goto("/issues")
    row = page.get_by_role("row").filter(has_text="Printer on fire")
    expect(row).to_contain_text(f"#{number}")
    expect(row).to_contain_text("Support")  # the issue type by name
    console.shot("issues-list")
    console.check_accessibility("issue list")

    row.get_by_role("link", name="Printer on fire").click()
    expect(page.get_by_role("heading", name="Printer on fire", exact=True).first).to_be_visible()
    messages = page.get_by_role("article")
    expect(messages).to_have_count(2)
    first = messages.nth(0)
    expect(first).to_contain_text("Ann Customer <ann@customer.example>")
    expect(first).to_contain_text("boss@customer.example")
    expect(first.get_by_role("region", name="Text of the message")).to_contain_text(HOSTILE)  # shown as text
    assert page.evaluate("window.__hacked") is None

    # The HTML version: sanitised, in a sandboxed frame, nothing fetched from elsewhere, no script run.
    first.get_by_text("Show the HTML version (sanitised)").click()
    frame = first.frame_locator("iframe")
    expect(frame.get_by_text("Hello in")).to_be_visible()
    assert first.locator("iframe").get_attribute("sandbox") == ""
    srcdoc = first.locator("iframe").get_attribute("srcdoc") or ""
    for removed in ("<script", "onerror", "javascript:", "<form", "tracker.example", "style="):
        assert removed not in srcdoc
    page.wait_for_timeout(500)
    assert page.evaluate("window.__hacked") is None
    assert all(url.startswith(console.base_url) for url in requested), requested
    console.shot("issue-detail")
    console.check_accessibility("issue detail")
    console.at_width(NARROW)
    console.shot("issue-detail-narrow")
    console.at_width(WIDE)

    with page.expect_download() as download_info:
        first.get_by_role("link", name="photo of the fire.pdf").click()
    assert Path(download_info.value.path()).read_bytes() == PDF
    assert download_info.value.suggested_filename == "photo of the fire.pdf"
    response = page.request.get(console.url(f"/attachments/{hostile_id}"))
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-type"] == "text/html"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.body() == b"<script>x</script>"

    expect(messages.nth(1)).to_contain_text("Its email log entry is no longer kept.")
    first.get_by_role("link", name="How this message arrived").click()
    assert page.url == console.url(f"/email-log/{log_row}")
    assert pdf_id != hostile_id


def test_issue_pages_need_a_session(console: ConsoleBrowser) -> None:
    anonymous = console.context.browser.new_context() if console.context.browser else None
    assert anonymous is not None
    try:
        response = anonymous.request.get(console.url("/attachments/1"), max_redirects=0)
        assert response.status == 303
        assert response.headers["location"].startswith("/sign-in?next=")
        response = anonymous.request.get(console.url("/email-log/1/raw"), max_redirects=0)
        assert response.status == 303
    finally:
        anonymous.close()
