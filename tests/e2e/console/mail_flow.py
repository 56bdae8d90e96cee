"""Helpers for the console's browser tests that need real mail: the pipeline running, outcomes awaited.

The mail goes through the real path (Dovecot → fetcher → RabbitMQ → ingestor → config-api); the
tests only wait on the API for what the pages are then expected to show.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.support.api import Api
from tests.support.processes import Stack, wait_until

OUTCOME_TIMEOUT = 60.0


def run_pipeline(stack: Stack) -> None:
    """Start the fetcher and the ingestor beside the config-api the `api` fixture started."""
    stack.start("fetcher", "ingestor")


def final_row(api: Api, inbox_id: int, message_id: str, *, stack: Stack, outcome: str | None = None) -> dict[str, Any]:
    """The email-log row of `message_id` once it has an outcome (`outcome` when given)."""

    def probe() -> dict[str, Any] | None:
        for row in api.email_log(inbox_id):
            final = row["outcome"] != "pending" and (outcome is None or row["outcome"] == outcome)
            if row["message_id"] == message_id and final:
                return row
        return None

    what = f"an outcome{f' {outcome}' if outcome else ''} for {message_id}"
    return wait_until(probe, timeout=OUTCOME_TIMEOUT, what=what, explain=stack.logs)


def watch_for_scripts(page: Page) -> list[str]:
    """Record every dialog the page opens (and dismiss it); return the live list.

    Every payload in the hostile mail sets `window.__pwned` and opens an alert if it ever runs.
    """
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def canary_in_any_frame(page: Page) -> list[str]:
    """The URLs of frames where an injected script set `window.__pwned`."""
    hit = []
    for frame in page.frames:
        try:
            if frame.evaluate("() => window.__pwned") is not None:
                hit.append(frame.url)
        except PlaywrightError:  # a frame gone meanwhile (navigated away): nothing to look at
            continue
    return hit
