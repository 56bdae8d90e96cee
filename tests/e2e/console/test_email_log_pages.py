"""System → Email log in Chromium against config-api as a process: the table, filters and pages, the live mode
(new rows without a reload, focus and reading position kept, pause), the detail page with its timeline, the
raw download, Reprocess (and its CSRF check), and bulk reprocess with its confirmation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from intake.shared.contracts import Outcome
from tests.e2e.console.log_data import START, LogData, raw_message
from tests.support.api import Api
from tests.support.browser import NARROW, WIDE, ConsoleBrowser
from tests.support.dovecot import Dovecot

LONG_SUBJECT = (
    "Invoice 2026-11 for the Northern Region warehouse, including the corrected freight charges that were "
    "disputed in October and the new pallet rates — please confirm before the quarterly close"
)


@pytest.fixture
def data(database_url: str, base_url: str) -> LogData:  # base_url: config-api has migrated the database
    return LogData(database_url)


def test_empty_log_explains_itself_then_shows_rows_live(console: ConsoleBrowser, data: LogData) -> None:
    page = console.page
    console.goto("/email-log")
    expect(page.get_by_role("heading", name="No messages logged yet")).to_be_visible()
    expect(page.get_by_role("button", name="Pause live updates")).to_have_attribute("aria-pressed", "false")
    console.shot("email-log-empty")
    console.check_accessibility("email log, empty")

    # The person is typing a filter when mail arrives: the row appears, focus and place stay.
    search = page.get_by_label("Subject", exact=True)
    search.click()
    search.type("Print")
    data.add(1, "Printer on fire [#12]", Outcome.ISSUE_CREATED, issue_number=12)
    row = page.get_by_role("row").filter(has_text="Printer on fire [#12]")
    expect(row).to_be_visible(timeout=10_000)
    expect(row.get_by_text("Issue created")).to_be_visible()
    expect(page.get_by_role("status", name="Live updates")).to_have_text("1 new message in the log.", timeout=5_000)
    assert page.evaluate("document.activeElement.id") == "filter-q"
    assert search.input_value() == "Print"  # nothing typed was lost
    console.shot("email-log-live-row")


def test_rows_filters_pages_and_reading_position(console: ConsoleBrowser, data: LogData) -> None:
    page = console.page
    for uid in range(1, 61):
        outcome = Outcome.FAILED if uid % 10 == 0 else Outcome.ISSUE_UPDATED
        data.add(uid, LONG_SUBJECT if uid == 60 else f"Order {uid} question", outcome, issue_number=3, reason=None)
    console.goto("/email-log")
    expect(page.get_by_role("row")).to_have_count(51)  # a header and a page of 50
    console.shot("email-log-rows")
    console.check_accessibility("email log with rows")
    console.at_width(NARROW)
    console.shot("email-log-rows-narrow")
    console.at_width(WIDE)

    # At the top of the page a new row appears in view and nothing scrolls.
    assert page.evaluate("window.scrollY") == 0
    data.add(70, "Arrives while at the top", Outcome.ISSUE_CREATED, issue_number=4, at=START + timedelta(hours=2))
    expect(page.get_by_role("row").filter(has_text="Arrives while at the top")).to_have_count(1, timeout=10_000)
    assert page.evaluate("window.scrollY") == 0

    # Reading further down: a new row at the top must not move what is on screen.
    reading = page.get_by_role("row").filter(has_text="Order 30 question")
    reading.scroll_into_view_if_needed()
    page.mouse.wheel(0, 200)
    page.wait_for_timeout(300)
    before = reading.bounding_box()
    assert before is not None
    data.add(61, "Brand new message", Outcome.ISSUE_CREATED, issue_number=4, at=START + timedelta(hours=3))
    expect(page.get_by_role("row").filter(has_text="Brand new message")).to_have_count(1, timeout=10_000)
    page.wait_for_timeout(300)
    after = reading.bounding_box()
    assert after is not None
    assert abs(after["y"] - before["y"]) <= 1, (before, after)

    # Paused: new rows are held and counted, then shown on request.
    page.get_by_role("button", name="Pause live updates").click()
    expect(page.get_by_role("button", name="Pause live updates")).to_have_attribute("aria-pressed", "true")
    data.add(62, "Held while paused", Outcome.ISSUE_CREATED, issue_number=5, at=START + timedelta(hours=4))
    live_status = page.get_by_role("status", name="Live updates")
    expect(live_status).to_contain_text("1 new message held while paused", timeout=10_000)
    expect(page.get_by_role("row").filter(has_text="Held while paused")).to_have_count(0)
    page.get_by_role("button", name="Show held messages").click()
    expect(page.get_by_role("row").filter(has_text="Held while paused")).to_have_count(1)

    # The filter is a bookmarkable GET form; the next page follows the cursor.
    page.goto(console.url("/email-log"))
    page.get_by_label("Outcome").select_option(label="Failed")
    page.get_by_role("button", name="Filter").click()
    assert "outcome=failed" in page.url
    expect(page.get_by_role("row")).to_have_count(7)
    page.goto(console.url("/email-log"))
    page.get_by_role("link", name="Next page").click()
    assert "cursor=" in page.url
    expect(page.get_by_role("row")).to_have_count(14)  # 63 rows: 50 on the first page, 13 here

    page.goto(console.url("/email-log?since=yesterday"))
    expect(page.get_by_role("alert")).to_contain_text("Enter a date and time (UTC)")
    console.shot("email-log-filter-error")
    console.check_accessibility("email log, filter error")


def test_detail_timeline_raw_download_and_reprocess(console: ConsoleBrowser, data: LogData) -> None:
    page = console.page
    raw = raw_message("Printer on fire", body="It smells of toner.\r\n<script>alert(1)</script>")
    created = data.add(
        1, "Printer on fire", Outcome.ISSUE_CREATED, raw=raw, issue_number=12, reason="no issue matched: a new one"
    )
    data.mailbox_action_done(1, "mark_read", START + timedelta(minutes=1, seconds=4))
    console.goto(f"/email-log/{created}")
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("2026-12-01 09:01:00")
    expect(timeline).to_contain_text("2026-12-01 09:01:04")
    expect(timeline).to_contain_text("Marked as read in the mailbox")
    expect(page.get_by_role("region", name="Why")).to_contain_text("A new issue was made from this message.")
    expect(page.get_by_role("button", name="Reprocess")).to_have_count(0)
    # Outcomes and reasons in words, never the stored value.
    expect(page.get_by_role("main")).to_contain_text("already on issue #12 (it created that issue)")
    expect(page.get_by_role("main")).not_to_contain_text("issue_created")
    console.shot("email-log-detail-issue-created")
    console.check_accessibility("email log detail")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the raw message").click()
    download = download_info.value
    assert download.suggested_filename == f"email-log-{created}.eml"
    assert Path(download.path()).read_bytes() == raw

    failed = data.add(2, "Cannot parse this", Outcome.FAILED, reason="parser crashed: boom")
    console.goto(f"/email-log/{failed}")
    expect(page.get_by_role("region", name="Why")).to_contain_text("parser crashed: boom")
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Not recorded")
    console.shot("email-log-detail-failed")

    # A POST without the session's CSRF token is refused and changes nothing.
    for form in ({"csrf_token": "forged"}, {}):
        refused = page.request.post(console.url(f"/email-log/{failed}/reprocess"), form=form)
        assert refused.status == 403
    assert data.value("SELECT outcome FROM config.email_log WHERE id = $1", failed) == "failed"

    page.get_by_role("button", name="Reprocess").click()
    expect(page.get_by_role("status")).to_contain_text("Reprocessing requested")
    assert data.value("SELECT outcome FROM config.email_log WHERE id = $1", failed) == "pending"
    console.shot("email-log-detail-reprocessed")
    console.at_width(NARROW)
    console.shot("email-log-detail-narrow")


def test_bulk_reprocess_of_the_failed_rows_of_a_filter(console: ConsoleBrowser, data: LogData) -> None:
    page = console.page
    for uid in range(1, 5):
        data.add(uid, f"Broken {uid}", Outcome.FAILED, sender="ops@vendor.example" if uid < 4 else "x@y.example")
    data.add(5, "Fine", Outcome.ISSUE_CREATED, sender="ops@vendor.example", issue_number=1)
    # Without the session's CSRF token (or with no token field at all) nothing is reprocessed.
    for form in ({"sender": "@vendor.example"}, {"sender": "@vendor.example", "csrf_token": ""}):
        assert page.request.post(console.url("/email-log/reprocess-failed"), form=form).status == 403
    assert data.value("SELECT count(*) FROM config.email_log WHERE outcome = 'failed'") == 4

    console.goto("/email-log?sender=%40vendor.example")
    page.get_by_role("link", name="Reprocess the failed messages…").click()
    expect(page.get_by_role("status")).to_contain_text("3 failed messages")
    console.shot("email-log-bulk-confirm")
    console.check_accessibility("bulk reprocess confirmation")
    page.get_by_role("button", name="Reprocess 3 failed messages").click()
    expect(page.get_by_role("status").filter(has_text="Queued")).to_contain_text(
        "Queued 3 failed messages for reprocessing."
    )
    assert "sender=%40vendor.example" in page.url
    outcomes = data.fetch("SELECT uid, outcome FROM config.email_log ORDER BY uid")
    assert [row["outcome"] for row in outcomes] == ["pending", "pending", "pending", "failed", "issue_created"]
    console.shot("email-log-bulk-done")


def _line_tops(page: Page, text: str) -> list[str]:
    """The tops of the rendered lines of the first cell whose text is `text` (a split address has two)."""
    lines: list[str] = page.evaluate(
        """(text) => {
            const cells = [...document.querySelectorAll('td, dd')];
            const cell = cells.find(e => e.textContent.trim() === text);
            if (!cell) return [];
            const range = document.createRange();
            range.selectNodeContents(cell);
            const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
            return [...tops];
        }""",
        text,
    )
    return lines


def test_addresses_stay_whole_and_filters_fold_on_a_narrow_screen(
    console: ConsoleBrowser, data: LogData, api: Api, dovecot: Dovecot
) -> None:
    page = console.page
    inbox = api.create_inbox(dovecot, dovecot.new_user("whole"), email="servicedesk@support.example.com")
    sender = "accountspayable@northernregion.example.com"  # one word: it may never break at 1280 px
    for uid in range(1, 6):
        data.add(uid, f"Order {uid} question", Outcome.FAILED, inbox_id=inbox["id"], sender=sender)

    # Wide: the filter fields show at once (no disclosure to open); addresses are never split mid-word.
    console.goto("/email-log")
    expect(page.get_by_label("Outcome")).to_be_visible()
    expect(page.get_by_text("Filters", exact=True)).to_be_hidden()
    for address in ("servicedesk@support.example.com", sender):
        assert len(_line_tops(page, address)) == 1, address
    console.shot("email-log-addresses-wide")
    console.check_accessibility("email log, wide")

    # Narrow: the filters fold behind a "Filters" summary, so the first row is on the first screen.
    console.at_width(NARROW)
    console.goto("/email-log")
    expect(page.get_by_label("Outcome")).to_be_hidden()
    first_row = page.get_by_role("row").filter(has_text="Order 5 question")
    box = first_row.bounding_box()
    assert box is not None
    assert box["y"] < NARROW["height"], box
    assert len(_line_tops(page, "servicedesk@support.example.com")) == 1
    console.shot("email-log-filters-folded-narrow", full_page=False)
    console.check_accessibility("email log, narrow, filters folded")

    # The summary works from the keyboard, and the labels show once open.
    summary = page.locator("summary", has_text="Filters")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Outcome")).to_be_visible()
    expect(page.locator("label[for=filter-sender]")).to_be_visible()
    console.shot("email-log-filters-open-narrow", full_page=False)
    console.check_accessibility("email log, narrow, filters open")

    # A filter in use keeps the disclosure open, so what filters the rows is in sight.
    page.get_by_label("Outcome").select_option(label="Failed")
    page.get_by_role("button", name="Filter").click()
    assert "outcome=failed" in page.url
    expect(page.get_by_label("Outcome")).to_be_visible()
    expect(page.locator("summary", has_text="Filters")).to_contain_text("in use")
    console.at_width(WIDE)
